import type * as RdKafkaTypes from '@confluentinc/kafka-javascript';
import { promisify } from './clients.js';

/**
 * A cluster that refuses a client's credentials or certificate does so on every retry, and librdkafka
 * retries without end: Pulse's clients stop at once with an error that says what to check
 * (docs/kafka.md). The native clients do the same in crates/pulse-kafka.
 */

/** librdkafka's codes of a refused login and of a failed TLS handshake. */
const ERR_AUTHENTICATION = -169;
const ERR_SSL = -181;

/** The cluster refused the client's SASL credentials, or its TLS certificate did not verify. */
export class KafkaRefusedError extends Error {
  override readonly name = 'KafkaRefusedError';
  constructor(
    readonly code: 'KAFKA_AUTHENTICATION' | 'KAFKA_TLS',
    reason: string,
  ) {
    super(
      code === 'KAFKA_AUTHENTICATION'
        ? `Kafka authentication failed (check kafka.saslMechanism, kafka.saslUsername, kafka.saslPassword): ${reason}`
        : `Kafka TLS handshake failed on the broker's certificate (check kafka.sslCaLocation and the broker's host name): ${reason}`,
    );
  }
}

/** The refusal a librdkafka error reports, or null for errors that retrying may cure. */
export function refusalOf(err: { code?: number; message?: string }): KafkaRefusedError | null {
  if (err.code === ERR_AUTHENTICATION) return new KafkaRefusedError('KAFKA_AUTHENTICATION', err.message ?? '');
  // A handshake cut short (a broker restarting) is an SSL error too; only a certificate failure is final.
  if (err.code === ERR_SSL && /certificate/.test(err.message ?? '')) return new KafkaRefusedError('KAFKA_TLS', err.message ?? '');
  return null;
}

/** The refusal a librdkafka error-level log line reports (clients hear of errors no other way while connecting). */
export function refusalInLog(message: string): KafkaRefusedError | null {
  const reason = message.replace(/^\[thrd:[^\]]*\]: /, '');
  if (/SASL (authentication error|handshake failed)/.test(reason)) return new KafkaRefusedError('KAFKA_AUTHENTICATION', reason);
  return refusalOf({ code: /SSL handshake failed/.test(reason) ? ERR_SSL : undefined, message: reason });
}

const CONNECT_ROUND_MS = 5_000;

/**
 * Connects a JavaScript client. While connecting, librdkafka reports a refused login or certificate
 * only in its log: that fails the connect at once with a KafkaRefusedError, instead of a timeout.
 */
export async function connectClient(client: RdKafkaTypes.Producer | RdKafkaTypes.KafkaConsumer, timeoutMs = 30_000): Promise<void> {
  let refused: ((err: Error) => void) | undefined;
  const refusal = new Promise<never>((_, reject) => (refused = reject));
  refusal.catch(() => {});
  const onLog = (line: { message: string }): void => {
    const r = refusalInLog(line.message);
    if (r !== null) refused!(r);
  };
  // Both client kinds are event emitters with the same 'event.log'; their union's overloads do not unify.
  const events = client as unknown as NodeJS.EventEmitter;
  events.on('event.log', onLog);
  // Short rounds: a round still waiting for metadata when the refusal comes holds the process (even
  // its exit) until its own timeout.
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const round = Math.min(CONNECT_ROUND_MS, Math.max(1_000, deadline - Date.now()));
      try {
        await Promise.race([promisify<unknown>((cb) => client.connect({ timeout: round }, cb as never)), refusal]);
        return;
      } catch (err) {
        if (err instanceof KafkaRefusedError || Date.now() >= deadline) throw err;
      }
    }
  } finally {
    events.removeListener('event.log', onLog);
  }
}
