//! Delivery accounting without a broker: librdkafka's own queue limit and message timeout make records
//! refused and failed, which is what the epochs must account for exactly.

use std::time::Duration;

use pulse_kafka::producer::BatchProducer;

fn unreachable_producer(queue_limit: u32) -> BatchProducer {
    let config = [
        // Nothing listens on port 1: every record fails once its timeout passes.
        ("bootstrap.servers", "127.0.0.1:1".to_owned()),
        ("message.timeout.ms", "300".to_owned()),
        ("queue.buffering.max.messages", queue_limit.to_string()),
        ("log_level", "0".to_owned()),
    ];
    BatchProducer::new(&config.map(|(k, v)| (k.to_owned(), v))).expect("valid configuration")
}

fn packed(records: &[&str]) -> (Vec<u8>, Vec<u32>) {
    let mut bytes = Vec::new();
    let mut ends = Vec::new();
    for r in records {
        bytes.extend_from_slice(r.as_bytes());
        ends.push(bytes.len() as u32);
    }
    (bytes, ends)
}

#[test]
fn a_full_queue_stops_the_batch_where_it_was_and_refused_records_are_not_counted() {
    let producer = unreachable_producer(3);
    let (values, ends) = packed(&["a", "b", "c", "d", "e"]);
    let (keys, key_ends) = packed(&["1", "2", "3", "4", "5"]);
    let progress = producer.send_packed("t", &values, &ends, &keys, &key_ends, 0).unwrap();
    assert_eq!((progress.next, progress.sent, progress.full), (3, 3, true));
    let counts = producer.counts();
    assert_eq!((counts.delivered, counts.failed, counts.outstanding), (0, 0, 3));
    assert!(!producer.send("t", None, Some(b"k"), Some(b"v"), &[]).unwrap(), "the queue is still full");
    assert_eq!(producer.counts().outstanding, 3);
}

#[test]
fn an_epoch_settles_when_its_records_fail_and_the_failures_are_kept() {
    let producer = unreachable_producer(100);
    let (values, ends) = packed(&["a", "b"]);
    let (keys, key_ends) = packed(&["1", "2"]);
    producer.send_packed("t", &values, &ends, &keys, &key_ends, 0).unwrap();
    let first = producer.close_epoch();
    assert!(producer.send("t", Some(0), None, Some(b"later"), &[]).unwrap());
    assert!(!producer.is_settled(first));
    assert!(producer.wait_settled(first, Duration::from_secs(10)), "failures settle an epoch");
    let second = producer.close_epoch();
    assert!(producer.wait_settled(second, Duration::from_secs(10)));
    let counts = producer.counts();
    assert_eq!((counts.delivered, counts.failed, counts.outstanding), (0, 3, 0));
    let failures = producer.take_failures();
    assert_eq!(failures.len(), 3);
    assert!(failures.iter().all(|f| f.topic == "t"));
    assert!(producer.take_failures().is_empty(), "taken once");
}

#[test]
fn malformed_engine_output_is_an_error_not_a_silent_drop() {
    let producer = unreachable_producer(100);
    let routes = [None, Some("t".to_owned())];
    // kind 1, key "k", then a value length that runs past the end.
    let truncated = [1u8, 1, 0, 0, 0, b'k', 9, 0, 0, 0, b'v'];
    assert!(producer.send_outputs(&truncated, 0, &routes).is_err());
    // kind 2 has no topic.
    let unrouted = [2u8, 1, 0, 0, 0, b'k', 1, 0, 0, 0, b'v'];
    assert!(producer.send_outputs(&unrouted, 0, &routes).is_err());
    assert_eq!(producer.counts().outstanding, 0);
}

#[test]
fn a_ticket_completes_once_with_every_record_answered_and_the_failed_ones_named() {
    let producer = unreachable_producer(100);
    for index in 0..3 {
        assert!(producer.send_ticketed(7, index, "t", b"k", b"v").unwrap());
    }
    assert!(producer.send_ticketed(8, 0, "t", b"k", b"v").unwrap());
    assert_eq!(producer.counts().outstanding, 4);
    let mut done = Vec::new();
    let mut brokers_down = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while done.len() < 2 && std::time::Instant::now() < deadline {
        let (completions, down) = producer.wait_tickets(Duration::from_millis(500));
        done.extend(completions);
        brokers_down |= down;
    }
    done.sort_by_key(|d| d.ticket);
    assert_eq!(done.iter().map(|d| d.ticket).collect::<Vec<_>>(), vec![7, 8]);
    let mut settled = done[0].settled.clone();
    settled.sort_unstable();
    assert_eq!(settled, vec![0, 1, 2]);
    assert_eq!(done[0].failed.len(), 3, "nothing can be written without a broker");
    assert!(done[0].error.is_some());
    assert!(brokers_down, "librdkafka says when every broker is down");
    let counts = producer.counts();
    assert_eq!((counts.failed, counts.outstanding), (4, 0));
    assert!(producer.send_ticketed(1, 1 << 16, "t", b"k", b"v").is_err(), "index out of range");
}

/// Engine output records (`kind u8, keyLen u32le, key, valueLen u32le, value`) and where each starts.
fn outputs(records: &[(u8, &str)]) -> (Vec<u8>, Vec<u32>) {
    let mut bytes = Vec::new();
    let mut starts = Vec::new();
    for (kind, value) in records {
        starts.push(bytes.len() as u32);
        bytes.push(*kind);
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.push(b'k');
        bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
        bytes.extend_from_slice(value.as_bytes());
    }
    (bytes, starts)
}

#[test]
fn a_packed_ticket_stops_at_a_full_queue_and_completes_with_the_records_queued() {
    let producer = unreachable_producer(2);
    let routes = [Some("clicks".to_owned()), Some("purchases".to_owned())];
    let (packed, starts) = outputs(&[(0, "a"), (1, "b"), (0, "c"), (0, "d")]);
    assert_eq!(producer.send_ticketed_outputs(5, &packed, &starts, &routes).unwrap(), 2, "the queue holds two");
    assert_eq!(producer.counts().outstanding, 2, "records refused by the full queue are not in flight");
    let mut done = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while done.is_empty() && std::time::Instant::now() < deadline {
        done.extend(producer.wait_tickets(Duration::from_millis(500)).0);
    }
    assert_eq!(done.len(), 1);
    let mut settled = done[0].settled.clone();
    settled.sort_unstable();
    assert_eq!((done[0].ticket, settled), (5, vec![0, 1]));
    assert_eq!(producer.counts().outstanding, 0);

    let (packed, starts) = outputs(&[(2, "x")]);
    assert!(producer.send_ticketed_outputs(6, &packed, &starts, &routes).is_err(), "a kind without a topic is an error");
    assert!(producer.send_ticketed_outputs(7, &packed[..3], &starts, &routes).is_err(), "so is a truncated record");
    assert_eq!(producer.counts().outstanding, 0);
    assert!(producer.wait_tickets(Duration::from_millis(0)).0.is_empty(), "a ticket with nothing queued never completes");
}

#[test]
fn a_failures_only_producer_counts_in_flight_records_from_librdkafka_and_its_failures_from_reports() {
    let config = [
        ("bootstrap.servers", "127.0.0.1:1".to_owned()),
        ("message.timeout.ms", "300".to_owned()),
        ("queue.buffering.max.messages", "3".to_owned()),
        ("delivery.report.only.error", "true".to_owned()),
        ("log_level", "0".to_owned()),
    ];
    let producer = BatchProducer::new(&config.map(|(k, v)| (k.to_owned(), v))).expect("valid configuration");
    let (values, ends) = packed(&["a", "b", "c", "d"]);
    let (keys, key_ends) = packed(&["1", "2", "3", "4"]);
    let progress = producer.send_packed("t", &values, &ends, &keys, &key_ends, 0).unwrap();
    assert_eq!((progress.next, progress.full), (3, true));
    let counts = producer.counts();
    assert_eq!((counts.delivered, counts.failed), (0, 0));
    // librdkafka's count of what is in flight also holds its callbacks not yet served (connection errors here).
    assert!(counts.outstanding >= 3, "the three queued are in flight: {counts:?}");
    assert!(!producer.is_settled(0));
    assert!(!producer.send_ticketed(1, 0, "t", b"k", b"v").unwrap_or(false), "tickets need a report for every record");
    assert!(producer.wait_settled(0, Duration::from_secs(10)), "settles once nothing is in flight");
    let counts = producer.counts();
    assert_eq!((counts.delivered, counts.failed, counts.outstanding), (0, 3, 0));
    assert_eq!(producer.take_failures().len(), 3);
}
