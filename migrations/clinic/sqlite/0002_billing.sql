-- Billing: what a fiscal receipt needs to be printed again exactly as it was, refund reasons,
-- and the register of issued tax-deduction certificates (KND 1151156). Still no personal data:
-- certificates hold tokens and sums; names are resolved from the vault when one is printed.

-- Settlement method of the receipt (54-FZ tag 1214), fixed when the money is taken: whether the
-- visit had been rendered then decides between a prepayment and a payment. A refund copies the
-- method of the payment it returns. `offset_kopecks` is the prepayment credited on a receipt
-- printed after the visit (tag 1215), `credit_kopecks` what stays owed on it (tag 1216).
ALTER TABLE payments ADD COLUMN settlement TEXT NOT NULL DEFAULT 'full_payment';
ALTER TABLE payments ADD COLUMN offset_kopecks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN credit_kopecks INTEGER NOT NULL DEFAULT 0;
-- A refund's reason, one of a fixed list of codes (never free text: no room for a name).
ALTER TABLE payments ADD COLUMN reason TEXT;
CREATE INDEX payments_by_shift ON payments (shift_id);
CREATE INDEX payments_by_refund_of ON payments (refund_of);

-- One row per printed version of a certificate: the number is per reporting year, a new
-- version of the same certificate (the sum changed after a refund) keeps the number and raises
-- the correction number, as the form requires.
CREATE TABLE tax_certificates (
    certificate_id TEXT PRIMARY KEY NOT NULL,
    year           INTEGER NOT NULL,
    number         INTEGER NOT NULL,
    correction     INTEGER NOT NULL,
    payer_token    TEXT NOT NULL,
    patient_token  TEXT NOT NULL,
    relation       TEXT NOT NULL,
    code1_kopecks  INTEGER NOT NULL CHECK (code1_kopecks >= 0),
    issued_by      TEXT NOT NULL REFERENCES staff (staff_id),
    issued_at      INTEGER NOT NULL,
    UNIQUE (year, number, correction)
);
CREATE INDEX tax_certificates_by_pair ON tax_certificates (year, payer_token, patient_token);
