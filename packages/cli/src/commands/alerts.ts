import { AlertsService, configuredRules } from '@pulse/alerts';
import { createLogger } from '@pulse/log';
import { describeConfig, loadConfig } from '@pulse/config';
import { engineInfo } from '@pulse/engine';
import { startOpsServer } from '@pulse/http';
import { defineCommand, untilStopped } from '../command.js';

export const alerts = defineCommand({
  name: 'alerts',
  summary: 'evaluate alert rules over the output streams; record transitions on pulse-alerts; notify Alertmanager and webhooks',
  help: `Usage: pulse alerts [--bootstrap-servers B] [--host H] [--port P] [--check]

Reads user-activity-counts, pulse-sensor-stats, pulse-revenue and dead-letters (every partition) and
samples consumer lag, evaluates the alert rules with Prometheus's semantics (pending while \`for\` has not elapsed,
firing, resolved; keep_firing_for), writes every transition to pulse-alerts (key: the alert's
fingerprint) and notifies:
  - Alertmanager (alerts.alertmanagerUrls / PULSE_ALERTMANAGER_URL): POST <url>/api/v2/alerts at once
    and every alerts.resendIntervalMs while firing; resolved alerts for 15 minutes after;
  - webhooks (alerts.webhooks / PULSE_ALERT_WEBHOOKS): Alertmanager's webhook payload (version 4),
    grouped (alerts.groupBy, groupWaitMs, groupIntervalMs, repeatIntervalMs), signed as Standard
    Webhooks do with PULSE_ALERT_WEBHOOK_SECRET, retried with backoff until delivered.
State is snapshotted to pulse-alerts-state with the input offsets it covers: a restart, even after a
kill, resumes the same alerts without a second "firing" and still sends every resolution.
Built-in rules: UserActivitySpike (alerts.userActivityThreshold), SensorAnomaly, RevenueDrop,
DeadLetterRate, PipelineLatencyHigh, ConsumerLagHigh; alerts.rulesFile adds rules or replaces built-ins (docs/alerting.md).

Options:
  --bootstrap-servers B  Kafka to use (default: configuration kafka.bootstrapServers)
  --host H, --port P     where GET /metrics, /healthz and /readyz are served (default alerts.host:alerts.port,
                         127.0.0.1:8089; 0 picks a free port)
  --check                validate the configuration and the rules file, print the rules, and exit

Configuration (pulse.config.json or environment):
${describeConfig()}`,
  options: {
    'bootstrap-servers': { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    check: { type: 'boolean' },
  },
  async run(values) {
    const config = loadConfig({ overrides: { 'kafka.bootstrapServers': values['bootstrap-servers'], 'alerts.host': values.host, 'alerts.port': values.port } });
    const log = createLogger('alerts', config.log);
    // A bad rules file is an error naming the rule and the field (exit 2, as for configuration).
    const rules = configuredRules(config);
    if (values.check) {
      for (const r of rules) console.log(`${r.name.padEnd(24)} ${r.kind.padEnd(17)} for ${r.forMs} ms  keep_firing_for ${r.keepFiringForMs} ms  ${JSON.stringify(r.labels)}`);
      return 0;
    }
    const service = new AlertsService(config, { log, rules });
    await service.start();
    const info = engineInfo();
    const ops = await startOpsServer({
      host: config.alerts.host,
      port: config.alerts.port,
      http: config.http,
      metrics: () => `${service.prometheus().join('\n')}\n`,
      readiness: () => {
        const ready = service.ready();
        return { ready, reasons: ready ? [] : ['the rules have not caught up with their input topics yet'] };
      },
      health: () => ({ rules: rules.length, engine: info }),
    }).catch((err: Error) => {
      log.error(`cannot serve /metrics on ${config.alerts.host}:${config.alerts.port}: ${err.message} (set PULSE_ALERTS_PORT or --port)`);
      return null;
    });
    if (ops !== null) log.info(`listening on ${ops.url} (/metrics, /healthz, /readyz)`);

    let failed = false;
    await untilStopped(
      service.done().catch((err: Error) => {
        failed = true;
        log.error(`stopped on an error: ${err.message}`);
      }),
    );
    log.info('stopping (writing a last snapshot)');
    await service.stop();
    await ops?.app.close();
    return failed ? 1 : 0;
  },
});
