//! A cluster that refuses a client's credentials or certificate does so on every retry: librdkafka
//! keeps reconnecting without end, and a process would hang. The clients note such a refusal here, with
//! librdkafka's reason, so that their callers can stop with an error that says what is wrong.

use std::sync::Mutex;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::RDKafkaErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// SASL authentication failed: wrong user name, password or mechanism.
    Authentication,
    /// The TLS handshake failed on a certificate: an untrusted CA, a host name the certificate does not
    /// name, or a client certificate the broker rejects.
    Tls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    /// librdkafka's own words (the broker, the mechanism, OpenSSL's verify error).
    pub reason: String,
}

#[derive(Debug, Default)]
pub(crate) struct RefusalSlot {
    refusal: Mutex<Option<Refusal>>,
    /// The last error-level log line: a consumer hears of an error by its code alone, and librdkafka
    /// logs the reason just before it queues the error.
    last_error_log: Mutex<Option<String>>,
}

impl RefusalSlot {
    /// Notes `code` if it is a refusal; `reason` is librdkafka's error string when the client got one.
    pub(crate) fn note(&self, code: RDKafkaErrorCode, reason: Option<&str>) {
        let reason = match reason {
            Some(r) => r.to_owned(),
            None => self.last_error_log.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_else(|| code.to_string()),
        };
        let kind = match code {
            RDKafkaErrorCode::Authentication => RefusalKind::Authentication,
            // A TLS connection cut during its handshake (a broker restarting) is also an SSL error, and
            // is retried; only a certificate that does not verify is final.
            RDKafkaErrorCode::SSL if reason.contains("certificate") => RefusalKind::Tls,
            _ => return,
        };
        self.refusal.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(Refusal { kind, reason });
    }

    /// Keeps error-level lines for `note`, and takes a line that reports a refusal as one: some clients
    /// (the admin client, a consumer before its first poll) hear of errors by their log alone.
    pub(crate) fn note_log(&self, level: RDKafkaLogLevel, message: &str) {
        if (level as i32) > RDKafkaLogLevel::Error as i32 {
            return;
        }
        *self.last_error_log.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.to_owned());
        if message.contains("SASL authentication error") || message.contains("SASL handshake failed") {
            self.note(RDKafkaErrorCode::Authentication, Some(message));
        } else if message.contains("SSL handshake failed") {
            self.note(RDKafkaErrorCode::SSL, Some(message));
        }
    }

    pub(crate) fn get(&self) -> Option<Refusal> {
        self.refusal.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_failures_are_refusals_with_their_reason() {
        let slot = RefusalSlot::default();
        slot.note(RDKafkaErrorCode::BrokerTransportFailure, Some("Disconnected"));
        assert_eq!(slot.get(), None);
        slot.note(RDKafkaErrorCode::Authentication, Some("SASL authentication error: invalid credentials"));
        assert_eq!(slot.get(), Some(Refusal { kind: RefusalKind::Authentication, reason: "SASL authentication error: invalid credentials".into() }));
    }

    #[test]
    fn a_logged_refusal_counts_without_an_error_event() {
        let slot = RefusalSlot::default();
        slot.note_log(RDKafkaLogLevel::Error, "sasl_ssl://b:9093/bootstrap: SSL handshake failed: Disconnected");
        assert_eq!(slot.get(), None);
        slot.note_log(RDKafkaLogLevel::Error, "sasl_ssl://b:9093/bootstrap: SASL authentication error: invalid credentials");
        assert_eq!(slot.get().map(|r| r.kind), Some(RefusalKind::Authentication));
    }

    #[test]
    fn only_certificate_failures_of_tls_are_refusals() {
        let slot = RefusalSlot::default();
        slot.note(RDKafkaErrorCode::SSL, Some("SSL handshake failed: Disconnected"));
        assert_eq!(slot.get(), None);
        slot.note_log(RDKafkaLogLevel::Error, "SSL handshake failed: certificate verify failed");
        slot.note_log(RDKafkaLogLevel::Debug, "a later debug line");
        slot.note(RDKafkaErrorCode::SSL, None);
        assert_eq!(slot.get().map(|r| (r.kind, r.reason)), Some((RefusalKind::Tls, "SSL handshake failed: certificate verify failed".into())));
    }
}
