/**
 * The config's TLS and feedback-agent fields (issue 15): bad input refused at its node with a
 * message that says what is allowed; good input renders the HAProxy lines it promises.
 */
import { describe, expect, it } from 'vitest';
import { renderAppliance } from '../../src/daemons/index.js';
import { base, check, problemsOf } from './fixture.js';

type Mutation = (c: Record<string, any>) => void;
const tls = (t: Record<string, unknown>): Mutation => (c) => {
  c.layer7[0].ports = [8080, 8443];
  c.layer7[0].tls = { certificates: ['www'], ...t };
};

// [case, mutation, expected text after c.yaml:LINE:COL: ]
const bad: [string, Mutation, RegExp][] = [
  ['an agent port out of range', (c) => { c.layer4[0].real_servers[0].agent = { port: 70000 }; }, /layer4\[0\]\.real_servers\[0\]\.agent\.port: 70000 is out of range: must be between 1 and 65535/],
  ['an agent port 0', (c) => { c.layer7[0].real_servers[0].agent = { port: 0 }; }, /layer7\[0\]\.real_servers\[0\]\.agent\.port: 0 is out of range: must be between 1 and 65535/],
  ['an HTTP feedback source on Layer 7', (c) => { c.layer7[0].real_servers[0].agent = { url: 'http://192.0.2.31/idle' }; }, /layer7\[0\]\.real_servers\[0\]\.agent\.url: HAProxy's agent check speaks TCP only/],
  ['a feedback URL with a space', (c) => { c.layer4[0].real_servers[0].agent = { url: 'http://192.0.2.21/a b' }; }, /agent\.url: .*an http:\/\/ URL without spaces/],
  ['a certificate label with unsafe characters', tls({ certificates: ['../www'] }), /tls\.certificates\[0\]: .*a certificate label is 1-63 letters/],
  ['a certificate label with a dot', tls({ certificates: ['www.example'] }), /tls\.certificates\[0\]: .*a certificate label/],
  ['no certificate', tls({ certificates: [] }), /tls\.certificates: /],
  ['a certificate listed twice', tls({ certificates: ['www', 'www'] }), /tls\.certificates\[1\]: certificate "www" is listed twice/],
  ['a TLS port the service does not have', tls({ ports: [443] }), /tls\.ports\[0\]: 443 is not one of the service's ports \(8080, 8443\)/],
  ['redirect with every port on TLS', tls({ redirect_http: true }), /tls\.redirect_http: every port of the service takes TLS: there is no plain HTTP port to redirect/],
  ['redirect in TCP mode', (c) => { tls({ ports: [8443], redirect_http: true })(c); c.layer7[0].mode = 'tcp'; }, /tls\.redirect_http: redirecting HTTP to HTTPS needs mode: http/],
  ['HSTS in TCP mode', (c) => { tls({ hsts_max_age: 60 })(c); c.layer7[0].mode = 'tcp'; }, /tls\.hsts_max_age: HSTS is an HTTP header: it needs mode: http/],
  ['verified re-encryption without a CA bundle', tls({ reencrypt: {} }), /tls\.reencrypt\.ca_bundle: verifying the real servers' certificates needs ca_bundle/],
  ['a CA bundle that is not PEM', tls({ reencrypt: { ca_bundle: 'hello' } }), /tls\.reencrypt\.ca_bundle: .*one or more PEM certificates/],
  ['min_version above max_version', tls({ min_version: 'TLSv1.3', max_version: 'TLSv1.2' }), /tls\.min_version: min_version TLSv1\.3 is above max_version TLSv1\.2/],
  ['max_version below the profile\'s lowest', tls({ profile: 'modern', max_version: 'TLSv1.2' }), /tls\.max_version: max_version TLSv1\.2 is below the lowest protocol of profile "modern" \(TLSv1\.3\)/],
  ['an unknown profile', tls({ profile: 'old' }), /tls\.profile: /],
  ['a cipher list with a space', tls({ ciphers: 'ECDHE-RSA-AES128-GCM-SHA256 RC4' }), /tls\.ciphers: .*an OpenSSL cipher list/],
];

describe('TLS and agent fields: bad input', () => {
  it.each(bad)('refuses %s', (_what, mutate, want) => {
    const c = base();
    mutate(c);
    const r = check(c);
    expect(r.ok).toBe(false);
    const texts = problemsOf(c).map((p) => p.text);
    expect(texts.some((t) => /^c\.yaml:\d+:\d+: /.test(t) && want.test(t)), texts.join('\n')).toBe(true);
  });
});

describe('TLS and agent fields: rendered', () => {
  const haproxyOf = (c: Record<string, any>) => {
    const r = check(c);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    return renderAppliance(r.config).find((f) => f.path === '/etc/haproxy/haproxy.cfg')!.content;
  };

  it('terminates TLS on the TLS ports only, with SNI over the certificates in order and the profile', () => {
    const c = base();
    tls({ ports: [8443], certificates: ['www', 'api'], max_version: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' })(c);
    const cfg = haproxyOf(c);
    expect(cfg).toContain('    bind 192.0.2.100:8080\n');
    expect(cfg).toContain('    bind 192.0.2.100:8443 ssl crt www.pem crt api.pem alpn h2,http/1.1 ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.2 ciphers ECDHE-RSA-AES128-GCM-SHA256 ciphersuites TLS_AES_128_GCM_SHA256:');
    expect(cfg).toContain('crt-base "${LBIMAGE_CHECK_ROOT}/var/lib/lbimage/certs"');
    expect(cfg).toContain('http-request set-header X-Forwarded-Proto https if { ssl_fc }');
    expect(cfg).not.toContain('redirect scheme https');
  });

  it('modern profile: TLS 1.3 only', () => {
    const c = base();
    tls({ profile: 'modern' })(c);
    expect(haproxyOf(c)).toMatch(/bind 192\.0\.2\.100:8443 ssl crt www\.pem alpn h2,http\/1\.1 ssl-min-ver TLSv1\.3 ciphersuites \S+ no-tls-tickets/);
  });

  it('re-encrypts to the real servers, verified against the CA bundle or not', () => {
    const c = base();
    tls({ reencrypt: { verify: false } })(c);
    expect(haproxyOf(c)).toMatch(/server rs1 192\.0\.2\.31:80 weight 100 check .* ssl verify none/);
    const v = base();
    tls({ reencrypt: { ca_bundle: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' } })(v);
    expect(haproxyOf(v)).toMatch(/server rs1 192\.0\.2\.31:80 .* ssl verify required ca-file \/etc\/haproxy\/lbimage-server-ca\.pem/);
  });

  it('adds HAProxy\'s agent check with the agent\'s port and interval', () => {
    const c = base();
    c.layer7[0].real_servers[0].agent = { port: 4444, interval: 3 };
    expect(haproxyOf(c)).toMatch(/server rs1 192\.0\.2\.31:80 .* agent-check agent-port 4444 agent-inter 3s/);
  });
});
