//! Binding of the load generator's synthetic shop (pulse-shop). The paced call is the hot one: it writes
//! a whole burst of events into packed buffers the native producer takes as they are, so generating
//! costs JavaScript one call per burst and no string per event.

use crate::{bad_options, EngineCode};
use napi::bindgen_prelude::*;
use pulse_shop::{ShopModel as Model, ShopOptions};

/// The model's options with every default filled in (packages/loadgen resolves and checks them).
#[napi(object)]
pub struct RawShopOptions {
    pub users: u32,
    pub products: u32,
    pub categories: u32,
    pub zipf_exponent: f64,
    pub sessions: u32,
    pub session_length: f64,
    pub sensors: u32,
    pub anomaly_rate: f64,
    pub mix_clicks: f64,
    pub mix_purchases: f64,
    pub mix_sensors: f64,
    pub view_to_cart: f64,
    pub cart_to_checkout: f64,
    pub checkout_to_purchase: f64,
    pub currency: String,
}

/// One event: `topic` is 0 for clicks, 1 for purchases, 2 for sensor readings.
#[napi(object)]
pub struct ShopEvent {
    pub topic: u32,
    pub key: String,
    pub value: String,
}

/// The records of one topic, packed as `BatchProducer.sendPacked` takes them.
#[napi(object)]
pub struct PackedShopRecords {
    pub values: Buffer,
    pub ends: Uint32Array,
    pub keys: Buffer,
    pub key_ends: Uint32Array,
}

#[napi]
pub struct ShopModel {
    inner: Model,
}

#[napi]
impl ShopModel {
    #[napi(constructor)]
    pub fn new(seed: String, o: RawShopOptions) -> Result<Self, EngineCode> {
        let options = ShopOptions {
            users: o.users,
            products: o.products,
            categories: o.categories,
            zipf_exponent: o.zipf_exponent,
            sessions: o.sessions,
            session_length: o.session_length,
            sensors: o.sensors,
            anomaly_rate: o.anomaly_rate,
            mix_clicks: o.mix_clicks,
            mix_purchases: o.mix_purchases,
            mix_sensors: o.mix_sensors,
            view_to_cart: o.view_to_cart,
            cart_to_checkout: o.cart_to_checkout,
            checkout_to_purchase: o.checkout_to_purchase,
            currency: o.currency,
        };
        Ok(Self { inner: Model::new(&seed, options).map_err(bad_options)? })
    }

    /// The next event, with `ts` = its intended send time in epoch ms.
    #[napi]
    pub fn next(&mut self, ts: f64) -> ShopEvent {
        let (mut value, mut key) = (Vec::new(), Vec::new());
        let topic = self.inner.next(ts as u64, &mut value, &mut key);
        // The model writes ASCII only.
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap_or_default();
        ShopEvent { topic: topic as u32, key: text(key), value: text(value) }
    }

    /// The next `count` events of a run at `rate` events/s from `t0`, each with ts = t0 + its intended
    /// offset (the model's sequence number is the event's index in the run); by topic, in the order of
    /// `ShopEvent.topic`.
    #[napi]
    pub fn next_paced(&mut self, t0: f64, rate: f64, count: u32) -> Vec<PackedShopRecords> {
        self.inner
            .next_paced(t0 as u64, rate, count as usize)
            .into_iter()
            .map(|r| PackedShopRecords { values: r.values.into(), ends: Uint32Array::new(r.ends), keys: r.keys.into(), key_ends: Uint32Array::new(r.key_ends) })
            .collect()
    }

    /// Events generated so far.
    #[napi(getter)]
    pub fn sequence(&self) -> f64 {
        self.inner.sequence() as f64
    }

    /// Events generated so far by type, in the order of pulse-shop's EVENT_TYPES.
    #[napi]
    pub fn event_counts(&self) -> Vec<f64> {
        self.inner.event_counts().iter().map(|&n| n as f64).collect()
    }
}
