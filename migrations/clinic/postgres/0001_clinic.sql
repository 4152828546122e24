-- clinic-app: scheduling, billing and the patient app's back end.
-- No column holds a patient's personal data: a patient is a vault token (`pt_...`) of the
-- clinic-app domain. Times are Unix seconds (UTC); dates and minutes of day are branch-local.

CREATE TABLE branches (
    branch_id          TEXT PRIMARY KEY NOT NULL,
    name               TEXT NOT NULL,
    address            TEXT NOT NULL,
    utc_offset_minutes BIGINT NOT NULL,
    created_at         BIGINT NOT NULL
);

CREATE TABLE rooms (
    room_id   TEXT PRIMARY KEY NOT NULL,
    branch_id TEXT NOT NULL REFERENCES branches (branch_id),
    name      TEXT NOT NULL
);

-- Staff of the clinic (its own data, not patients'). Doctors carry their vault staff id so
-- that bookings can report care relationships to the vault.
CREATE TABLE staff (
    staff_id       TEXT PRIMARY KEY NOT NULL,
    username       TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    role           TEXT NOT NULL,
    branch_id      TEXT REFERENCES branches (branch_id),
    specialty      TEXT,
    vault_staff_id TEXT,
    password_hash  TEXT,
    disabled_at    BIGINT,
    created_at     BIGINT NOT NULL
);

-- Bearer sessions of staff and of patients; only the SHA-256 of the secret is stored.
CREATE TABLE sessions (
    session_hash  BYTEA PRIMARY KEY NOT NULL,
    staff_id      TEXT REFERENCES staff (staff_id),
    patient_token TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    CHECK ((staff_id IS NULL) <> (patient_token IS NULL))
);

-- Services and the published price list (a legal duty): a price is valid from a date until
-- the day before the next price of the same service.
CREATE TABLE services (
    code             TEXT PRIMARY KEY NOT NULL,
    name             TEXT NOT NULL,
    duration_minutes BIGINT NOT NULL,
    vat_exempt       BOOLEAN NOT NULL,
    deleted_at       BIGINT
);

CREATE TABLE prices (
    service_code TEXT NOT NULL REFERENCES services (code),
    valid_from   TEXT NOT NULL,
    kopecks      BIGINT NOT NULL CHECK (kopecks >= 0),
    PRIMARY KEY (service_code, valid_from)
);

-- Weekly templates: a doctor works in a room of a branch on a weekday (1 = Monday) from
-- start_minute to end_minute local time, in slots of slot_minutes.
CREATE TABLE schedule_templates (
    template_id  TEXT PRIMARY KEY NOT NULL,
    doctor_id    TEXT NOT NULL REFERENCES staff (staff_id),
    branch_id    TEXT NOT NULL REFERENCES branches (branch_id),
    room_id      TEXT NOT NULL REFERENCES rooms (room_id),
    weekday      BIGINT NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_minute BIGINT NOT NULL,
    end_minute   BIGINT NOT NULL,
    slot_minutes BIGINT NOT NULL,
    valid_from   TEXT NOT NULL,
    valid_until  TEXT,
    CHECK (0 <= start_minute AND start_minute < end_minute AND end_minute <= 1440),
    CHECK (slot_minutes BETWEEN 5 AND 240)
);
CREATE INDEX schedule_templates_by_doctor ON schedule_templates (doctor_id);

-- Leave and sick days: no slots from first_day to last_day (inclusive, local dates).
CREATE TABLE schedule_exceptions (
    exception_id TEXT PRIMARY KEY NOT NULL,
    doctor_id    TEXT NOT NULL REFERENCES staff (staff_id),
    first_day    TEXT NOT NULL,
    last_day     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX schedule_exceptions_by_doctor ON schedule_exceptions (doctor_id);

CREATE TABLE appointments (
    appointment_id TEXT PRIMARY KEY NOT NULL,
    doctor_id      TEXT NOT NULL REFERENCES staff (staff_id),
    branch_id      TEXT NOT NULL REFERENCES branches (branch_id),
    room_id        TEXT NOT NULL REFERENCES rooms (room_id),
    patient_token  TEXT NOT NULL,
    service_code   TEXT NOT NULL REFERENCES services (code),
    starts_at      BIGINT NOT NULL,
    ends_at        BIGINT NOT NULL,
    status         TEXT NOT NULL,
    -- Whether the slot is held: every status but cancelled and rescheduled. The unique
    -- indexes below use it, so two live appointments can never share a doctor's or a room's
    -- start, whatever the code above them does.
    holds_slot     BOOLEAN NOT NULL,
    booked_by      TEXT NOT NULL,
    booked_via     TEXT NOT NULL,
    cancelled_by   TEXT,
    cancelled_at   BIGINT,
    late_cancel    BOOLEAN,
    rescheduled_to TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CHECK (starts_at < ends_at)
);
CREATE UNIQUE INDEX appointments_doctor_slot ON appointments (doctor_id, starts_at) WHERE holds_slot;
CREATE UNIQUE INDEX appointments_room_slot ON appointments (room_id, starts_at) WHERE holds_slot;
CREATE INDEX appointments_by_branch_day ON appointments (branch_id, starts_at);
CREATE INDEX appointments_by_patient ON appointments (patient_token, starts_at);

-- A patient who wants a full day: offered the first slot that frees up.
CREATE TABLE waitlist (
    entry_id      TEXT PRIMARY KEY NOT NULL,
    doctor_id     TEXT NOT NULL REFERENCES staff (staff_id),
    day           TEXT NOT NULL,
    patient_token TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    notified_at   BIGINT,
    UNIQUE (doctor_id, day, patient_token)
);

-- Messages to send. The row holds the token, never the address: contact data is resolved
-- from the vault at send time with purpose `reminder`.
CREATE TABLE outbox (
    message_id     TEXT PRIMARY KEY NOT NULL,
    kind           TEXT NOT NULL,
    patient_token  TEXT NOT NULL,
    appointment_id TEXT REFERENCES appointments (appointment_id),
    due_at         BIGINT NOT NULL,
    sent_at        BIGINT,
    channel        TEXT,
    attempts       BIGINT NOT NULL DEFAULT 0,
    last_error     TEXT,
    dropped_at     BIGINT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (due_at) WHERE sent_at IS NULL AND dropped_at IS NULL;

-- Cash-register shifts: payments and refunds are taken within an open shift.
CREATE TABLE shifts (
    shift_id   TEXT PRIMARY KEY NOT NULL,
    branch_id  TEXT NOT NULL REFERENCES branches (branch_id),
    cashier_id TEXT NOT NULL REFERENCES staff (staff_id),
    opened_at  BIGINT NOT NULL,
    closed_at  BIGINT
);
CREATE UNIQUE INDEX shifts_one_open_per_cashier ON shifts (cashier_id) WHERE closed_at IS NULL;

CREATE TABLE invoices (
    invoice_id     TEXT PRIMARY KEY NOT NULL,
    appointment_id TEXT NOT NULL UNIQUE REFERENCES appointments (appointment_id),
    patient_token  TEXT NOT NULL,
    payer_token    TEXT NOT NULL,
    branch_id      TEXT NOT NULL REFERENCES branches (branch_id),
    total_kopecks  BIGINT NOT NULL CHECK (total_kopecks >= 0),
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX invoices_by_payer ON invoices (payer_token);
CREATE INDEX invoices_by_patient ON invoices (patient_token);

CREATE TABLE invoice_lines (
    invoice_id    TEXT NOT NULL REFERENCES invoices (invoice_id),
    line_no       BIGINT NOT NULL,
    service_code  TEXT NOT NULL REFERENCES services (code),
    service_name  TEXT NOT NULL,
    quantity      BIGINT NOT NULL CHECK (quantity > 0),
    price_kopecks BIGINT NOT NULL CHECK (price_kopecks >= 0),
    vat_exempt    BOOLEAN NOT NULL,
    PRIMARY KEY (invoice_id, line_no)
);

-- Payments are positive, refunds negative; a refund names the payment it returns. The
-- idempotency key makes a double-submitted payment one payment.
CREATE TABLE payments (
    payment_id      TEXT PRIMARY KEY NOT NULL,
    invoice_id      TEXT NOT NULL REFERENCES invoices (invoice_id),
    shift_id        TEXT NOT NULL REFERENCES shifts (shift_id),
    method          TEXT NOT NULL,
    kopecks         BIGINT NOT NULL CHECK (kopecks <> 0),
    refund_of       TEXT REFERENCES payments (payment_id),
    idempotency_key TEXT NOT NULL UNIQUE,
    cashier_id      TEXT NOT NULL REFERENCES staff (staff_id),
    taken_at        BIGINT NOT NULL
);
CREATE INDEX payments_by_invoice ON payments (invoice_id);
CREATE INDEX payments_by_time ON payments (taken_at);

-- Patient app sign-in: a one-time code sent to the phone on file. Only the code's SHA-256
-- (keyed with the challenge id) and the token are kept, never the phone.
CREATE TABLE login_challenges (
    challenge_id  TEXT PRIMARY KEY NOT NULL,
    patient_token TEXT,
    phone_digest  BYTEA NOT NULL,
    code_hash     BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    used_at       BIGINT
);
CREATE INDEX login_challenges_by_phone ON login_challenges (phone_digest, created_at);

-- Data requests filed from the patient app or by reception, to be handled under the
-- patient-rights process in the vault.
CREATE TABLE data_requests (
    request_id    TEXT PRIMARY KEY NOT NULL,
    patient_token TEXT NOT NULL,
    kind          TEXT NOT NULL,
    filed_by      TEXT NOT NULL,
    filed_at      BIGINT NOT NULL,
    state         TEXT NOT NULL
);
CREATE UNIQUE INDEX data_requests_one_open ON data_requests (patient_token, kind) WHERE state = 'filed';
