import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

/** Address ranges a webhook may not reach unless `allowPrivateNetwork` is set. */
const FORBIDDEN_RANGES = new Set([
  'unspecified',
  'broadcast',
  'multicast',
  'linkLocal', // 169.254.0.0/16 (cloud metadata: 169.254.169.254), fe80::/10
  'loopback',
  'carrierGradeNat', // 100.64.0.0/10
  'private', // 10/8, 172.16/12, 192.168/16
  'reserved',
  'uniqueLocal', // fc00::/7 (AWS's IPv6 metadata fd00:ec2::254 included)
  'ipv4Mapped', // checked as the IPv4 address it maps
  'rfc6145',
  'rfc6052',
  '6to4',
  'teredo',
  'benchmarking',
  'amt',
  'as112',
  'deprecated',
  'orchid2',
  'droneRemoteIdProtocolEntityTags',
]);

/** Why an address may not be reached, or undefined when it may. */
export function forbiddenRange(address: string): string | undefined {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  const range = parsed.range();
  return FORBIDDEN_RANGES.has(range) ? range : undefined;
}

/** A checked address to connect to: the connection is pinned to it (no DNS rebinding). */
export interface CheckedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/**
 * Resolves a URL's host and checks every address it resolves to. The WHATWG URL parser has
 * already turned odd notations (`2130706433`, `0177.0.0.1`, `0x7f.1`, `[::ffff:127.0.0.1]`)
 * into canonical addresses. Throws an Error saying which address and range when refused.
 */
export async function checkedAddress(url: URL, allowPrivate: boolean): Promise<CheckedAddress> {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const addresses = ipaddr.isValid(host)
    ? [{ address: host, family: ipaddr.parse(host).kind() === 'ipv6' ? 6 : 4 }]
    : await lookup(host, { all: true, verbatim: true });
  if (addresses.length === 0) throw new Error(`${host} does not resolve`);
  if (!allowPrivate) {
    for (const { address } of addresses) {
      const range = forbiddenRange(address);
      if (range) {
        throw Object.assign(
          new Error(
            `${host === address ? address : `${host} resolves to ${address}`}, a ${range} address`,
          ),
          { code: 'SSRF' },
        );
      }
    }
  }
  const first = addresses[0]!;
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}
