//! Ticketed sends of packed records: one call for all of a request's records.

use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::producer::BaseRecord;

use super::{is_queue_full, read_output, BatchProducer, OpenTicket, TicketDone, TICKET_BIT};

impl BatchProducer {
    /// The records of `packed` (the engine's output format) that start at `starts`, as records
    /// 0, 1, … of `ticket`, each to `topics_by_kind[kind]`, partitioned by key. Stops at a full queue
    /// (or at librdkafka's refusal, an error if nothing was queued); returns how many were queued.
    /// Their answers come back from `wait_tickets`, as for `send_ticketed`.
    pub fn send_ticketed_outputs(&self, ticket: u64, packed: &[u8], starts: &[u32], topics_by_kind: &[Option<String>]) -> KafkaResult<usize> {
        if !self.ticket_fits(ticket, starts.len()) {
            return Err(KafkaError::MessageProduction(RDKafkaErrorCode::InvalidArgument));
        }
        // Every record is read and routed before any is sent, so that a malformed one queues nothing.
        let mut records = Vec::with_capacity(starts.len());
        for &at in starts {
            let (kind, key, value, _) = read_output(packed, at as usize).ok_or(KafkaError::MessageProduction(RDKafkaErrorCode::InvalidArgument))?;
            let topic = topics_by_kind.get(kind as usize).and_then(Option::as_deref).ok_or(KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopic))?;
            records.push((topic, key, value));
        }
        // Counted before sending, so that an answer arriving before this call returns finds its ticket.
        self.tickets_expect(ticket, starts.len() as u32);
        let mut sent = 0;
        let mut refused = None;
        for (index, (topic, key, value)) in records.into_iter().enumerate() {
            let opaque = TICKET_BIT | ((ticket as usize) << 16) | index;
            let record: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(topic, opaque).key(key).payload(value);
            if let Err((err, _)) = self.inner.send(record) {
                if !is_queue_full(&err) {
                    refused = Some(err);
                }
                break;
            }
            sent += 1;
        }
        self.tickets_unsent(ticket, (starts.len() - sent) as u32);
        // After some records were queued, an error only stops the send, as a full queue does: the
        // caller learns of the queued ones and the retry of the rest meets the error first.
        match refused {
            Some(err) if sent == 0 => Err(err),
            _ => Ok(sent),
        }
    }

    fn tickets_expect(&self, ticket: u64, records: u32) {
        let mut e = self.tracker().lock();
        e.tickets.entry(ticket).or_insert_with(|| OpenTicket { pending: 0, done: TicketDone { ticket, ..TicketDone::default() } }).pending += records;
        e.ticketed_outstanding += u64::from(records);
    }

    /// Takes back records that were counted but not queued; a ticket left with no pending record is
    /// complete (or forgotten, if none of its records was queued).
    fn tickets_unsent(&self, ticket: u64, records: u32) {
        if records == 0 {
            return;
        }
        let tracker = self.tracker();
        let mut e = tracker.lock();
        e.ticketed_outstanding = e.ticketed_outstanding.saturating_sub(u64::from(records));
        let Some(open) = e.tickets.get_mut(&ticket) else { return };
        open.pending = open.pending.saturating_sub(records);
        if open.pending == 0 {
            let done = e.tickets.remove(&ticket).expect("present").done;
            if !done.settled.is_empty() {
                e.completed.push(done);
                tracker.settled.notify_all();
            }
        }
    }
}
