// The lab's NTP server (run by lab.ts inside a namespace): answers every NTP client request on
// ADDRESS:123 with this host's clock, as a stratum 2 server (RFC 5905's fields, SNTP-simple).
//   node lab-ntp.mjs 203.0.113.50
import { createSocket } from 'node:dgram';

const [address] = process.argv.slice(2);
const NTP_EPOCH_OFFSET = 2208988800; // 1900-01-01 to 1970-01-01 in seconds

function stamp(buf, at, ms) {
  buf.writeUInt32BE(Math.floor(ms / 1000) + NTP_EPOCH_OFFSET, at);
  buf.writeUInt32BE(Math.floor(((ms % 1000) / 1000) * 2 ** 32), at + 4);
}

const sock = createSocket('udp4');
sock.on('message', (req, from) => {
  if (req.length < 48 || (req[0] & 7) !== 3) return; // client mode only
  const received = Date.now();
  const res = Buffer.alloc(48);
  res[0] = (0 << 6) | (4 << 3) | 4; // no leap warning, version 4, server mode
  res[1] = 2; // stratum
  res[2] = req[2]; // poll, as asked
  res[3] = 0xec; // precision 2^-20 s
  res.writeUInt32BE(0, 4); // root delay
  res.writeUInt32BE(0x10, 8); // root dispersion: a fraction of a millisecond
  res.write('LAB\0', 12, 'latin1'); // reference id
  stamp(res, 16, received - 1000); // reference time
  req.copy(res, 24, 40, 48); // origin = the client's transmit time, as it sent it
  stamp(res, 32, received);
  stamp(res, 40, Date.now());
  sock.send(res, from.port, from.address);
  process.stderr.write(`answered ${from.address}\n`);
});
sock.bind(123, address, () => console.log('ready'));
