-- The access export seals record contents to this X25519 public key of the patient's phone
-- (hex), when the app gave one (ADR 0016). A public key: not a secret, not personal data.
ALTER TABLE data_requests ADD COLUMN recipient_key TEXT;
