//! Topic configuration through librdkafka's admin API, so that the check of existing topics speaks every
//! security protocol the other clients do.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};

/// The configuration of one topic: every entry the broker reported, with its effective value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    pub topic: String,
    pub entries: Vec<(String, Option<String>)>,
}

/// The effective configuration of `topics` (explicit values and the broker defaults they inherit); topics
/// that do not exist are left out. `config` holds the librdkafka connection properties. The admin
/// client polls only its own queue, so it never hears of a refused login: callers check the connection
/// first (a refusal then shows as this call's timeout).
pub fn describe_topic_configs(config: &[(String, String)], topics: &[String], timeout: Duration) -> KafkaResult<Vec<TopicConfig>> {
    let mut cc = ClientConfig::new();
    for (k, v) in config {
        cc.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = cc.create()?;
    let resources: Vec<ResourceSpecifier<'_>> = topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let answer = futures_executor::block_on(admin.describe_configs(&resources, &options))?;
    let mut out = Vec::with_capacity(topics.len());
    for (topic, result) in topics.iter().zip(answer) {
        match result {
            // librdkafka answers for a topic that does not exist with no entries rather than an error;
            // a topic that exists always has some (every default is reported).
            Ok(resource) if resource.entries.is_empty() => {}
            Ok(resource) => out.push(TopicConfig { topic: topic.clone(), entries: resource.entries.into_iter().map(|e| (e.name, e.value)).collect() }),
            Err(RDKafkaErrorCode::UnknownTopicOrPartition) => {}
            Err(code) => return Err(KafkaError::AdminOp(code)),
        }
    }
    Ok(out)
}
