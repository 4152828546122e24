//! The answer to an access request as a document a person reads (152-FZ art. 14 part 7): the
//! same content as the JSON export, in Russian, printable, in the style of the tax certificate.
//! Rendered for the one response that asks for it and dropped: it is never stored or logged.

use askama::Template;
use vault_wire::{Channel, ConsentPurpose};

use super::Clinic;
use super::billing::{InvoiceStatus, PaymentKind};
use super::error::ClinicError;
use super::rights::PatientExport;
use super::schedule;
use crate::store::StoreError;

/// Dates in the document are the clinic's (Moscow) time, as on its other printed forms.
const OFFSET: i64 = schedule::PRICE_LIST_UTC_OFFSET_MINUTES;

/// `30.11.2026` for a Unix time.
pub(crate) fn moscow_date(at: i64) -> String {
    schedule::local_day(at, OFFSET)
        .format("%d.%m.%Y")
        .to_string()
}

/// `30.11.2026 10:00` for a Unix time.
fn moscow_time(at: i64) -> String {
    format!("{} {}", moscow_date(at), schedule::local_hhmm(at, OFFSET))
}

/// Roubles with a decimal comma, as printed forms show them: `2500,00`.
fn roubles(kopecks: u64) -> String {
    format!("{},{:02}", kopecks / 100, kopecks % 100)
}

fn identity_label(field: &str) -> &str {
    match field {
        "surname" => "Фамилия",
        "name" => "Имя",
        "patronymic" => "Отчество",
        "birth_date" => "Дата рождения",
        "sex" => "Пол",
        "phones" => "Телефоны",
        "email" => "Электронная почта",
        "address" => "Адрес",
        "snils" => "СНИЛС",
        "passport" => "Паспорт",
        "inn" => "ИНН",
        other => other,
    }
}

fn consent_label(purpose: ConsentPurpose) -> &'static str {
    match purpose {
        ConsentPurpose::SmsReminders => "SMS-напоминания о приёмах",
        ConsentPurpose::Marketing => "Рекламные и информационные рассылки",
        ConsentPurpose::PatientApp => "Мобильное приложение пациента",
        ConsentPurpose::Analytics => "Аналитика",
    }
}

fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::PatientApp => "в приложении",
        Channel::Reception => "в регистратуре",
        Channel::Paper => "письменно",
    }
}

fn appointment_status_label(status: &str) -> &str {
    match status {
        "booked" => "запись",
        "arrived" => "пациент пришёл",
        "in_progress" => "идёт приём",
        "completed" => "приём состоялся",
        "cancelled" => "отменена",
        "no_show" => "неявка",
        "rescheduled" => "перенесена",
        other => other,
    }
}

fn request_kind_label(kind: vault_wire::DataRequestKind) -> &'static str {
    match kind {
        vault_wire::DataRequestKind::Access => "сведения о моих данных",
        vault_wire::DataRequestKind::Deletion => "удаление моих данных",
    }
}

fn request_state_label(state: &str) -> &str {
    match state {
        "open" => "принят",
        "extended" => "срок ответа продлён",
        "answered" => "ответ дан",
        "completed" => "исполнен",
        "filed" => "подан",
        "superseded" => "подан повторно",
        other => other,
    }
}

fn invoice_status_label(status: InvoiceStatus) -> &'static str {
    match status {
        InvoiceStatus::Unpaid => "не оплачен",
        InvoiceStatus::PartiallyPaid => "оплачен частично",
        InvoiceStatus::Paid => "оплачен",
        InvoiceStatus::Refunded => "деньги возвращены",
    }
}

fn role_label(role: &str) -> &str {
    match role {
        "doctor" => "врач",
        "nurse" => "медсестра",
        "receptionist" => "регистратор",
        "cashier" => "кассир",
        "accountant" => "бухгалтер",
        "security_officer" => "ответственный за защиту данных",
        "administrator" => "администратор",
        other => other,
    }
}

fn decision_label(decision: &str) -> &str {
    match decision {
        "permit" => "разрешено",
        "deny" => "отказано",
        "failure" => "не выполнено",
        other => other,
    }
}

/// A stored identity value as text: strings as they are, lists joined, objects as
/// `key: value` pairs; `None` when the vault has nothing for the field.
fn identity_text(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::Null => None,
        Value::String(s) if s == "female" => Some("женский".into()),
        Value::String(s) if s == "male" => Some("мужской".into()),
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(identity_text).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .filter_map(|(k, v)| identity_text(v).map(|t| format!("{k}: {t}")))
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        other => Some(other.to_string()),
    }
}

struct Pair {
    label: String,
    value: String,
}

struct ConsentLine {
    purpose: &'static str,
    granted: bool,
    channel: &'static str,
    at: String,
}

struct RecordLine {
    kind: String,
    created: String,
    versions: i64,
}

struct AppointmentLine {
    date: String,
    time: String,
    doctor: String,
    service: String,
    branch: String,
    status: String,
}

struct PaymentLine {
    at: String,
    kind: &'static str,
    method: &'static str,
    amount: String,
}

struct InvoiceLine {
    visit_day: String,
    services: String,
    total: String,
    paid: String,
    refunded: String,
    status: &'static str,
    payments: Vec<PaymentLine>,
}

struct RequestLine {
    kind: &'static str,
    filed: String,
    channel: &'static str,
    state: String,
    due: String,
}

struct AccessLine {
    at: String,
    role: String,
    branch: String,
    action: String,
    purpose: String,
    decision: String,
}

struct BasisLine {
    data: String,
    purpose: String,
    basis: String,
}

#[derive(Template)]
#[template(path = "patient_data_export.html")]
struct Page<'a> {
    clinic_name: &'a str,
    clinic_inn: &'a str,
    clinic_address: &'a str,
    request_id: &'a str,
    generated: String,
    identity: Vec<Pair>,
    consents_in_force: Vec<&'static str>,
    consent_history: Vec<ConsentLine>,
    records: Vec<RecordLine>,
    appointments: Vec<AppointmentLine>,
    invoices: Vec<InvoiceLine>,
    requests: Vec<RequestLine>,
    accesses: Vec<AccessLine>,
    processing: Vec<BasisLine>,
}

impl Clinic {
    /// The access request's answer as a printable HTML document.
    pub fn render_export(&self, e: &PatientExport) -> Result<String, ClinicError> {
        let v = &e.vault;
        let c = &e.clinic_app;
        let identity = v
            .identity
            .iter()
            .filter_map(|(k, value)| {
                identity_text(value).map(|t| Pair {
                    label: identity_label(k).to_owned(),
                    value: t,
                })
            })
            .collect();
        let appointments = c
            .appointments
            .upcoming
            .iter()
            .chain(c.appointments.past.iter())
            .map(|a| AppointmentLine {
                date: a.date.clone(),
                time: a.time.clone(),
                doctor: a.doctor_name.clone(),
                service: a.service_name.clone(),
                branch: format!("{}, {}", a.branch_name, a.branch_address),
                status: appointment_status_label(a.appointment.status.as_str()).to_owned(),
            })
            .collect();
        let invoices = c
            .invoices
            .iter()
            .map(|i| InvoiceLine {
                visit_day: i.visit_day.clone(),
                services: i
                    .lines
                    .iter()
                    .map(|l| l.service_name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
                total: roubles(i.total_kopecks),
                paid: roubles(i.paid_kopecks),
                refunded: roubles(i.refunded_kopecks),
                status: invoice_status_label(i.status),
                payments: i
                    .payments
                    .iter()
                    .map(|p| PaymentLine {
                        at: moscow_time(p.taken_at),
                        kind: match p.kind {
                            PaymentKind::Payment => "оплата",
                            PaymentKind::Refund => "возврат",
                        },
                        method: match p.method.as_str() {
                            "cash" => "наличными",
                            "card" => "картой",
                            _ => "переводом",
                        },
                        amount: roubles(p.amount_kopecks),
                    })
                    .collect(),
            })
            .collect();
        let page = Page {
            clinic_name: &self.identity.name,
            clinic_inn: &self.identity.inn,
            clinic_address: &self.identity.address,
            request_id: &e.request_id,
            generated: moscow_time(e.generated_at),
            identity,
            consents_in_force: v
                .consents
                .in_force
                .iter()
                .map(|p| consent_label(*p))
                .collect(),
            consent_history: v
                .consents
                .history
                .iter()
                .map(|h| ConsentLine {
                    purpose: consent_label(h.purpose),
                    granted: h.granted,
                    channel: channel_label(h.channel),
                    at: moscow_time(h.at),
                })
                .collect(),
            records: v
                .records
                .iter()
                .map(|r| RecordLine {
                    kind: r.kind.clone(),
                    created: moscow_date(r.created_at),
                    versions: r.versions,
                })
                .collect(),
            appointments,
            invoices,
            requests: c
                .data_requests
                .iter()
                .map(|r| RequestLine {
                    kind: request_kind_label(r.kind),
                    filed: moscow_date(r.filed_at),
                    channel: channel_label(r.channel),
                    state: request_state_label(&r.state).to_owned(),
                    due: r.due_at.map(moscow_date).unwrap_or_default(),
                })
                .collect(),
            accesses: v
                .accesses
                .iter()
                .map(|a| AccessLine {
                    at: moscow_time(a.at),
                    role: role_label(&a.role).to_owned(),
                    branch: a.branch.clone().unwrap_or_default(),
                    action: a.action.clone(),
                    purpose: a.purpose.clone().unwrap_or_default(),
                    decision: decision_label(&a.decision).to_owned(),
                })
                .collect(),
            processing: v
                .processing
                .iter()
                .chain(c.processing.iter())
                .map(|p| BasisLine {
                    data: p.data.clone(),
                    purpose: p.purpose.clone(),
                    basis: p.basis.clone(),
                })
                .collect(),
        };
        page.render()
            .map_err(|_| StoreError::Corrupt("the data export template failed".into()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_values_read_as_text() {
        use serde_json::json;
        assert_eq!(identity_text(&json!(null)), None);
        assert_eq!(identity_text(&json!("female")).as_deref(), Some("женский"));
        assert_eq!(
            identity_text(&json!(["+79161234567", "+79031112233"])).as_deref(),
            Some("+79161234567, +79031112233")
        );
        let passport = identity_text(&json!({"series": "4510", "number": "123456"})).unwrap();
        assert!(passport.contains("series: 4510") && passport.contains("number: 123456"));
        assert_eq!(passport.matches("; ").count(), 1, "{passport}");
        assert_eq!(roubles(250_050), "2500,50");
        assert_eq!(moscow_time(1_796_011_200), "30.11.2026 07:00");
    }
}
