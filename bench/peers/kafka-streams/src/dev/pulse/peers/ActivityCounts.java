package dev.pulse.peers;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindowedKStream;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

/**
 * Pulse's activity counts as the Kafka Streams application a user would write instead
 * (docs/peers.md): {@code user-clicks} keyed by userId, grouped by key, counted in 5-minute
 * tumbling event-time windows with 60 s grace, written to {@code user-activity-counts} keyed by
 * userId in Pulse's JSON shape, so that one harness measures both.
 *
 * <p>Usage: {@code java -cp 'lib/*:classes' dev.pulse.peers.ActivityCounts --key value ...}; every
 * option is listed in {@link #DEFAULTS}. Options not listed there but containing a dot are passed to
 * Kafka Streams as they are (for example {@code --num.stream.threads 2}).
 */
public final class ActivityCounts {
    static final Duration WINDOW_SIZE = Duration.ofMinutes(5);
    static final Duration GRACE = Duration.ofSeconds(60);
    static final String STORE = "activity-counts";

    /** The options of this application and their defaults. */
    static final Map<String, String> DEFAULTS = Map.of(
            "bootstrap-servers", "127.0.0.1:9092",
            "application-id", "pulse-peer-kafka-streams",
            "input", "user-clicks",
            "output", "user-activity-counts",
            // rocksdb (Kafka Streams' default window store) or memory.
            "store", "rocksdb",
            // updates: a record per cache flush (at the latest every commit interval) while the
            // window is open, as Pulse emits; final: one record per key once the window has closed.
            "emit", "updates",
            "state-dir", System.getProperty("java.io.tmpdir") + "/pulse-peer-kafka-streams");

    private static final JsonFactory JSON = new JsonFactory();

    private ActivityCounts() {
    }

    /**
     * Event time is the event's {@code ts} field (ms since the epoch), read with a streaming parser
     * that stops at the field. A record without a usable {@code ts} gets -1, which Kafka Streams
     * drops, logs and counts in its dropped-records metric.
     */
    public static final class EventTimeExtractor implements TimestampExtractor {
        @Override
        public long extract(final ConsumerRecord<Object, Object> record, final long partitionTime) {
            if (!(record.value() instanceof byte[] value)) {
                return -1;
            }
            try (JsonParser parser = JSON.createParser(value)) {
                if (parser.nextToken() != JsonToken.START_OBJECT) {
                    return -1;
                }
                for (JsonToken token = parser.nextToken(); token == JsonToken.FIELD_NAME; token = parser.nextToken()) {
                    final String field = parser.currentName();
                    final JsonToken fieldValue = parser.nextToken();
                    if ("ts".equals(field)) {
                        return fieldValue == JsonToken.VALUE_NUMBER_INT ? parser.getLongValue() : -1;
                    }
                    parser.skipChildren();
                }
                return -1;
            } catch (final IOException e) {
                return -1;
            }
        }
    }

    /** {@code {"userId","windowStart","windowEnd","count","final"}}, as Pulse writes it. */
    static byte[] countJson(final Windowed<String> key, final long count, final boolean isFinal) {
        final ByteArrayBuilder out = new ByteArrayBuilder(96);
        try (JsonGenerator json = JSON.createGenerator(out)) {
            json.writeStartObject();
            json.writeStringField("userId", key.key());
            json.writeNumberField("windowStart", key.window().start());
            json.writeNumberField("windowEnd", key.window().end());
            json.writeNumberField("count", count);
            json.writeBooleanField("final", isFinal);
            json.writeEndObject();
        } catch (final IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    static Topology topology(final Map<String, String> options) {
        final boolean finals = switch (options.get("emit")) {
            case "updates" -> false;
            case "final" -> true;
            default -> throw new IllegalArgumentException("--emit must be updates or final, not " + options.get("emit"));
        };
        final Materialized<String, Long, WindowStore<Bytes, byte[]>> store = switch (options.get("store")) {
            case "rocksdb" -> Materialized.as(STORE);
            // The retention a window store needs: the window and its grace.
            case "memory" -> Materialized.as(Stores.inMemoryWindowStore(STORE, WINDOW_SIZE.plus(GRACE), WINDOW_SIZE, false));
            default -> throw new IllegalArgumentException("--store must be rocksdb or memory, not " + options.get("store"));
        };

        final StreamsBuilder builder = new StreamsBuilder();
        final TimeWindowedKStream<String, byte[]> windowed = builder
                .stream(options.get("input"), Consumed.with(Serdes.String(), Serdes.ByteArray())
                        .withTimestampExtractor(new EventTimeExtractor()))
                .groupByKey()
                .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW_SIZE, GRACE));
        (finals ? windowed.emitStrategy(EmitStrategy.onWindowClose()) : windowed)
                .count(store.withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()))
                .toStream()
                .map((key, count) -> KeyValue.pair(key.key(), countJson(key, count, finals)))
                .to(options.get("output"), Produced.with(Serdes.String(), Serdes.ByteArray()));
        return builder.build();
    }

    static Properties streamsConfig(final Map<String, String> options) {
        final Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, options.get("application-id"));
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, options.get("bootstrap-servers"));
        props.put(StreamsConfig.STATE_DIR_CONFIG, options.get("state-dir"));
        // Every event counted once, through crashes: Pulse's guarantee.
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        // Latency tuning (docs/peers.md): under exactly-once an update is readable when its
        // transaction commits, and the record cache forwards at the latest at a commit, so the
        // commit interval bounds the latency; but each commit also stops the stream thread for its
        // round trips to the broker, and shorter intervals did not lower the p95 on the benchmark
        // machine, so this is Kafka Streams' exactly-once default, 100 ms. The cache keeps its
        // default 10 MB, so that the updates of a key within an interval are coalesced, as Pulse
        // coalesces them.
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 10L * 1024 * 1024);
        // Kafka Streams sets linger.ms 100 for its producer; a commit flushes it anyway, but a short
        // linger lets batches leave between commits.
        props.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
        // The spec's record compression on every topic Pulse writes.
        props.put(StreamsConfig.producerPrefix(ProducerConfig.COMPRESSION_TYPE_CONFIG), "lz4");
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        for (final Map.Entry<String, String> option : options.entrySet()) {
            if (option.getKey().contains(".")) {
                props.put(option.getKey(), option.getValue());
            }
        }
        return props;
    }

    static Map<String, String> parseArgs(final String[] args) {
        final Map<String, String> options = new HashMap<>(DEFAULTS);
        for (int i = 0; i < args.length; i += 2) {
            final String name = args[i].startsWith("--") ? args[i].substring(2) : null;
            if (name == null || i + 1 >= args.length) {
                throw new IllegalArgumentException("expected --option value pairs, got " + String.join(" ", args));
            }
            if (!DEFAULTS.containsKey(name) && !name.contains(".")) {
                throw new IllegalArgumentException("unknown option --" + name + "; options: " + DEFAULTS.keySet()
                        + " and Kafka Streams settings (names with a dot)");
            }
            options.put(name, args[i + 1]);
        }
        return options;
    }

    public static void main(final String[] args) throws InterruptedException {
        final Map<String, String> options;
        final Topology topology;
        try {
            options = parseArgs(args);
            topology = topology(options);
        } catch (final IllegalArgumentException e) {
            System.err.println("activity-counts: " + e.getMessage());
            System.exit(2);
            return;
        }
        final KafkaStreams streams = new KafkaStreams(topology, streamsConfig(options));
        final CountDownLatch stopped = new CountDownLatch(1);
        // One line per state change on stdout: the benchmark waits for RUNNING.
        streams.setStateListener((now, before) -> {
            System.out.println("state " + now);
            if (now == KafkaStreams.State.NOT_RUNNING || now == KafkaStreams.State.ERROR) {
                stopped.countDown();
            }
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(30));
            stopped.countDown();
        }, "shutdown"));
        streams.start();
        stopped.await();
        if (streams.state() == KafkaStreams.State.ERROR) {
            streams.close(Duration.ofSeconds(30));
            System.exit(1);
        }
    }
}
