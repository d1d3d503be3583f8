use pulse_shop::{intended_offset_ms, ShopModel, ShopOptions, Topic, EVENT_TYPES};

const T0: u64 = 1_764_100_000_000;

fn defaults() -> ShopOptions {
    ShopOptions {
        users: 100_000,
        products: 10_000,
        categories: 20,
        zipf_exponent: 1.0,
        sessions: 10_000,
        session_length: 12.0,
        sensors: 2_000,
        anomaly_rate: 0.001,
        mix_clicks: 0.91,
        mix_purchases: 0.01,
        mix_sensors: 0.08,
        view_to_cart: 0.08,
        cart_to_checkout: 0.5,
        checkout_to_purchase: 0.6,
        currency: "USD".into(),
    }
}

fn next(model: &mut ShopModel, ts: u64) -> (Topic, String, String) {
    let (mut value, mut key) = (Vec::new(), Vec::new());
    let topic = model.next(ts, &mut value, &mut key);
    (topic, String::from_utf8(key).unwrap(), String::from_utf8(value).unwrap())
}

/// Events of seed 42 at ts = T0 + index, as the generator's first (JavaScript) implementation wrote
/// them: a seed keeps meaning the same traffic.
#[test]
fn seed_42_gives_the_reference_events() {
    let reference = include_str!("data/seed-42.tsv");
    let wanted: Vec<(usize, &str, &str, &str)> = reference
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, '\t').collect();
            (f[0].parse().unwrap(), f[1], f[2], f[3])
        })
        .collect();
    assert!(wanted.iter().any(|w| w.1 == "1") && wanted.iter().any(|w| w.1 == "2"), "the reference covers every topic");
    let mut model = ShopModel::new("42", defaults()).unwrap();
    let last = wanted.last().unwrap().0;
    let mut at = wanted.iter().peekable();
    for i in 0..=last {
        let (topic, key, value) = next(&mut model, T0 + i as u64);
        if at.peek().is_some_and(|w| w.0 == i) {
            let w = at.next().unwrap();
            assert_eq!(((topic as usize).to_string().as_str(), key.as_str(), value.as_str()), (w.1, w.2, w.3), "event {i}");
        }
    }
}

#[test]
fn paced_batches_are_the_events_one_by_one_with_their_intended_times() {
    let rate = 3_000.0;
    let mut one_by_one = ShopModel::new("paced", defaults()).unwrap();
    let mut expected: [Vec<(String, String)>; 3] = Default::default();
    for i in 0..10_000u64 {
        let (topic, key, value) = next(&mut one_by_one, T0 + intended_offset_ms(i, rate));
        expected[topic as usize].push((key, value));
    }
    let mut paced = ShopModel::new("paced", defaults()).unwrap();
    let mut got: [Vec<(String, String)>; 3] = Default::default();
    for count in [1, 0, 999, 4000, 5000] {
        for (topic, records) in paced.next_paced(T0, rate, count).iter().enumerate() {
            let mut start = (0, 0);
            for (&end, &key_end) in records.ends.iter().zip(&records.key_ends) {
                let key = std::str::from_utf8(&records.keys[start.1..key_end as usize]).unwrap();
                let value = std::str::from_utf8(&records.values[start.0..end as usize]).unwrap();
                got[topic].push((key.to_owned(), value.to_owned()));
                start = (end as usize, key_end as usize);
            }
        }
    }
    assert_eq!(paced.sequence(), 10_000);
    assert_eq!(got, expected);
    assert_eq!(paced.event_counts(), one_by_one.event_counts());
}

#[test]
fn intended_offsets_are_exact_without_drift() {
    assert_eq!((0..7).map(|i| intended_offset_ms(i, 3.0)).collect::<Vec<_>>(), [0, 333, 666, 1000, 1333, 1666, 2000]);
    assert_eq!(intended_offset_ms(99_999, 100_000.0), 999);
    // Ten hours at 100 000/s: still exactly on the millisecond grid.
    assert_eq!(intended_offset_ms(3_600_000_000, 100_000.0), 36_000_000);
}

#[test]
fn events_are_canonical_json_of_their_topic() {
    let mut model = ShopModel::new("shapes", ShopOptions { mix_sensors: 0.3, ..defaults() }).unwrap();
    for i in 0..50_000 {
        let (topic, key, value) = next(&mut model, T0 + i);
        let v: serde_json::Value = serde_json::from_str(&value).unwrap_or_else(|e| panic!("{e}: {value}"));
        // Printable ASCII with nothing escaped, so no consumer has to unescape.
        assert!(value.bytes().all(|c| (0x20..0x7f).contains(&c) && c != b'\\'), "{value}");
        assert_eq!(v["ts"].as_u64(), Some(T0 + i));
        let key_field = if topic == Topic::Sensors { "sensorId" } else { "userId" };
        assert_eq!(v[key_field].as_str(), Some(key.as_str()), "{value}");
    }
    let counts = model.event_counts();
    assert_eq!(counts.iter().sum::<u64>(), 50_000);
    let sensors = counts[EVENT_TYPES.iter().position(|t| *t == "sensor").unwrap()];
    let share = 0.3 / (0.91 + 0.01 + 0.3);
    assert!((sensors as f64 - 50_000.0 * share).abs() <= 1.0, "sensors take exactly their share: {sensors}");
}

#[test]
fn rejects_options_it_cannot_run_with() {
    for (options, needle) in [
        (ShopOptions { users: 0, ..defaults() }, "users"),
        (ShopOptions { view_to_cart: 1.5, ..defaults() }, "viewToCart"),
        (ShopOptions { mix_clicks: 0.0, mix_purchases: 0.0, mix_sensors: 0.0, ..defaults() }, "mix"),
        (ShopOptions { currency: "usd".into(), ..defaults() }, "currency"),
    ] {
        let err = ShopModel::new("x", options).unwrap_err();
        assert!(err.contains(needle), "{err}");
    }
}
