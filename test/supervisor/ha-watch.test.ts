import { describe, expect, it } from 'vitest';
import { explainHeartbeatLog } from '../../src/supervisor/ha-watch.js';

// heartbeat's own log lines (format strings from heartbeat 3.0.6 and libplumb, as the journal shows them).
describe('heartbeat log lines on the consoles', () => {
  it.each([
    ['[1873]: WARN: string2msg_ll: node [lb-secondary] failed authentication', 'auth', /lb-secondary: they fail authentication. The two units have different shared secrets/],
    ['[1873]: ERROR: Invalid authentication [2] in message!', 'auth', /shared secrets \(authkeys\) differ/],
    ['[1873]: info: Link lb-secondary:/dev/ttyS1 dead.', 'link /dev/ttyS1 dead', /link \/dev\/ttyS1 to lb-secondary is DEAD.*no failover.*null-modem cable/],
    ['[1873]: info: Link lb-secondary:eth0 dead.', 'link eth0 dead', /link eth0 to lb-secondary is DEAD.*network path/],
    // up right after dead is its own notice, not swallowed by the once-a-minute limit of the dead one
    ['[1873]: info: Link lb-secondary:eth0 up.', 'link eth0 up', /link eth0 to lb-secondary is up/],
    // ping nodes: heartbeat names them by address, with the address as the link
    ['[1873]: info: Link 203.0.113.50:203.0.113.50 dead.', 'ping 203.0.113.50 dead', /ping node 203\.0\.113\.50 does not answer this unit.*ipfail/],
    ['[1873]: info: Link 203.0.113.50:203.0.113.50 up.', 'ping 203.0.113.50 up', /ping node 203\.0\.113\.50 answers this unit again/],
    ['[1873]: WARN: node lb-primary: is dead', 'dead', /peer lb-primary is dead on every link.*split brain/],
    ['[1873]: CRIT: Cluster node lb-primary returning after partition.', 'partition', /back after a partition/],
  ])('%s', (line, kind, text) => {
    const n = explainHeartbeatLog(line);
    expect(n?.kind).toBe(kind);
    expect(n?.text).toMatch(text);
  });

  it('says nothing about routine lines, nor twice about a dead ping node (it is no peer)', () => {
    expect(explainHeartbeatLog('[1873]: info: Status update for node lb-secondary: status active')).toBeUndefined();
    expect(explainHeartbeatLog('[1873]: WARN: node 203.0.113.50: is dead')).toBeUndefined();
  });
});
