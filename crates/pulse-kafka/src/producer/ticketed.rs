//! Ticketed sends of packed records: one call for all of a request's records.

use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::producer::BaseRecord;

use super::{is_queue_full, read_output, BatchProducer, OpenTicket, TicketDone, MAX_TICKET, MAX_TICKET_RECORDS, TICKET_BIT};

impl BatchProducer {
    /// The records of `packed` (the engine's output format) that start at `starts`, as records
    /// 0, 1, … of `ticket`, each to `topics_by_kind[kind]`, partitioned by key. Stops at a full queue;
    /// returns how many were queued. Their answers come back from `wait_tickets`, as for `send_ticketed`.
    pub fn send_ticketed_outputs(&self, ticket: u64, packed: &[u8], starts: &[u32], topics_by_kind: &[Option<String>]) -> KafkaResult<usize> {
        if ticket > MAX_TICKET || starts.len() > MAX_TICKET_RECORDS as usize {
            return Err(KafkaError::MessageProduction(RDKafkaErrorCode::InvalidArgument));
        }
        // Counted before sending, so that an answer arriving before this call returns finds its ticket.
        self.tickets_expect(ticket, starts.len() as u32);
        let mut sent = 0;
        let mut result = Ok(());
        for (index, &at) in starts.iter().enumerate() {
            let Some((kind, key, value, _)) = read_output(packed, at as usize) else {
                result = Err(KafkaError::MessageProduction(RDKafkaErrorCode::InvalidArgument));
                break;
            };
            let Some(topic) = topics_by_kind.get(kind as usize).and_then(Option::as_deref) else {
                result = Err(KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopic));
                break;
            };
            let opaque = TICKET_BIT | ((ticket as usize) << 16) | index;
            let record: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(topic, opaque).key(key).payload(value);
            if let Err((err, _)) = self.inner.send(record) {
                if !is_queue_full(&err) {
                    result = Err(err);
                }
                break;
            }
            sent += 1;
        }
        self.tickets_unsent(ticket, (starts.len() - sent) as u32);
        result.map(|()| sent)
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
