// Failover and failback of the HA pair (issue 16), in the lab (test/e2e/ha-pair.ts): both kvm
// units booted once under TCG, set up by the console wizard's HA path, a Layer 4 NAT and a
// Layer 7 VIP on floating IPs. A client sends a request every 250 ms through each VIP; the
// active unit is powered off (QEMU killed) and the time to the first answered request and the
// failed requests are printed beside heartbeat's timings. Then auto_failback is turned on and
// the old primary powered on again: the failback time (power-on to the primary serving) is
// printed too. Target: failover <= deadtime + 2 s (the shipped defaults) on both VIPs.
// Needs root and `make image BOARD=kvm`.
import { createPair, outage, pairConfig, pairWizard, PASSWORD, status, VIP4, VIP7, type Pair } from '../e2e/ha-pair.js';

const KEEPALIVE = 1;
const WARNTIME = 5;
const DEADTIME = 10;
const INITDEAD = 30;
const TARGET_MS = (DEADTIME + 2) * 1000;

let pair: Pair | undefined;
let failed = false;
try {
  const t0 = Date.now();
  const log = (s: string) => console.log(`  ${s} (${((Date.now() - t0) / 1000).toFixed(0)}s)`);
  pair = await createPair(log);
  const P = pair;
  const { primary, secondary } = P.units;
  await Promise.all([P.boot(primary), P.boot(secondary)]);
  await primary.con!.dialog(pairWizard(primary), /Virtual service: +203\.0\.113\.100:80 \(NAT\), floating/, 180_000);
  const key = /keep it private\):\r?\n\s+([0-9a-f]{64})/.exec(primary.vm!.log())![1]!;
  await secondary.con!.dialog(pairWizard(secondary, key), /Virtual service: +203\.0\.113\.100:80 \(NAT\), floating/, 180_000);
  for (const u of [primary, secondary]) await u.con!.answer(/Press Enter to confirm, or Ctrl-C to exit\./, '');
  for (const u of [primary, secondary]) await u.vm!.waitFor(/Setup complete\./, 300_000, { since: u.con!.cursor });
  for (const u of [primary, secondary]) await u.con!.login(PASSWORD);
  // auto_failback on from the start: the power-on of the old primary is the failback.
  for (const u of [secondary, primary]) {
    await u.con!.writeFile('/root/pair.yaml', pairConfig(u.role, { autoFailback: true }));
    await u.con!.ok('lbapply /root/pair.yaml', 300_000);
  }
  const waitActive = async (who: typeof primary, timeoutMs: number) => {
    const start = Date.now();
    while (Date.now() - start < timeoutMs) {
      const s = await status(who);
      if (s.ha.state === 'active' && s.floating_ips.every((f) => f.held)) return Date.now() - start;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`${who.role} never became active`);
  };
  await waitActive(primary, 240_000);
  log('pair up, primary active');

  const loop = (host: string) => P.lab.request({ kind: 'http', host, port: 80, count: 400, intervalMs: 250, timeoutMs: 1000, stopAfterOk: 4 });
  const loops = [loop(VIP7), loop(VIP4)];
  await new Promise((r) => setTimeout(r, 2000));
  const offAt = await P.powerOff(primary);
  const [r7, r4] = await Promise.all(loops);
  const o7 = outage(r7!.results, offAt);
  const o4 = outage(r4!.results, offAt);

  const onAt = Date.now();
  await P.boot(primary);
  await primary.con!.login(PASSWORD);
  await waitActive(primary, 300_000);
  const failbackMs = Date.now() - onAt;

  const fmt = (ms: number | undefined) => (ms === undefined ? 'never' : `${(ms / 1000).toFixed(1)} s`);
  console.log(`heartbeat: keepalive ${KEEPALIVE} s, warntime ${WARNTIME} s, deadtime ${DEADTIME} s, initdead ${INITDEAD} s`);
  console.log(`failover (power-off -> first answer): Layer 7 ${fmt(o7.firstAnswerMs)} (${o7.failed}/${o7.total} failed), Layer 4 NAT ${fmt(o4.firstAnswerMs)} (${o4.failed}/${o4.total} failed)`);
  console.log(`ratio to deadtime: Layer 7 ${((o7.firstAnswerMs ?? Infinity) / (DEADTIME * 1000)).toFixed(2)}, Layer 4 ${((o4.firstAnswerMs ?? Infinity) / (DEADTIME * 1000)).toFixed(2)}`);
  console.log(`failback (power-on of the primary -> primary active, auto_failback on): ${fmt(failbackMs)} (includes its TCG boot)`);
  const met = [o7, o4].every((o) => o.firstAnswerMs !== undefined && o.firstAnswerMs <= TARGET_MS);
  console.log(`target failover <= deadtime + 2 s = ${TARGET_MS / 1000} s: ${met ? 'met' : 'MISSED'}`);
  failed = !met;
} catch (e) {
  console.error(e);
  failed = true;
} finally {
  await pair?.destroy();
}
process.exit(failed ? 1 : 0);
