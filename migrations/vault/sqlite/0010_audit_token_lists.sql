-- One audit event may cover many patient tokens: a resolve writes one event per distinct
-- decision in the call, naming every token it covers here (space-separated), instead of one
-- chained row per token (ADR 0019). NULL for events about one token (`patient_token`) or none.
-- Part of the event's chain hash whenever it is set.
ALTER TABLE audit_events ADD COLUMN patient_tokens TEXT;
