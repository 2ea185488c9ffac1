import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

/**
 * The special-purpose address blocks a webhook may not reach unless `allowPrivateNetwork` is set:
 * IANA's IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and its updates), with what
 * each block is in words a user knows. An IPv6 address outside global unicast (2000::/3) is
 * refused too; forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by it.
 */
const SPECIAL_PURPOSE: readonly (readonly [cidr: string, what: string])[] = [
  ['0.0.0.0/8', 'a "this network" address (0.0.0.0/8)'],
  ['10.0.0.0/8', 'a private network address (10.0.0.0/8)'],
  ['100.64.0.0/10', 'a carrier-grade NAT address (100.64.0.0/10)'],
  ['127.0.0.0/8', 'a loopback address (127.0.0.0/8)'],
  ['169.254.0.0/16', 'a link-local address (169.254.0.0/16, where cloud metadata services live)'],
  ['172.16.0.0/12', 'a private network address (172.16.0.0/12)'],
  ['192.0.0.0/24', 'an IETF protocol assignment (192.0.0.0/24)'],
  ['192.0.2.0/24', 'a documentation address (192.0.2.0/24)'],
  ['192.31.196.0/24', 'an AS112 DNS address (192.31.196.0/24)'],
  ['192.52.193.0/24', 'an AMT relay address (192.52.193.0/24)'],
  ['192.88.99.0/24', 'a deprecated 6to4 relay address (192.88.99.0/24)'],
  ['192.168.0.0/16', 'a private network address (192.168.0.0/16)'],
  ['192.175.48.0/24', 'an AS112 DNS address (192.175.48.0/24)'],
  ['198.18.0.0/15', 'a benchmarking address (198.18.0.0/15)'],
  ['198.51.100.0/24', 'a documentation address (198.51.100.0/24)'],
  ['203.0.113.0/24', 'a documentation address (203.0.113.0/24)'],
  ['224.0.0.0/4', 'a multicast address (224.0.0.0/4)'],
  ['255.255.255.255/32', 'the broadcast address'],
  ['240.0.0.0/4', 'a reserved address (240.0.0.0/4)'],
  ['::/128', 'the unspecified address (::)'],
  ['::1/128', 'the IPv6 loopback address (::1)'],
  ['::/96', 'an IPv4-compatible IPv6 address (::/96, deprecated)'],
  ['::ffff:0:0:0/96', 'an IPv4-translated IPv6 address (::ffff:0:0:0/96)'],
  ['64:ff9b:1::/48', 'a local-use NAT64 address (64:ff9b:1::/48)'],
  ['100::/64', 'a discard-only IPv6 address (100::/64)'],
  ['2001::/23', 'an IETF protocol assignment (2001::/23: Teredo, benchmarking, ORCHID, …)'],
  ['2001:db8::/32', 'a documentation address (2001:db8::/32)'],
  ['3fff::/20', 'a documentation address (3fff::/20)'],
  ['5f00::/16', 'an SRv6 segment identifier (5f00::/16)'],
  ['fc00::/7', 'a unique local IPv6 address (fc00::/7, private networks and cloud metadata)'],
  ['fe80::/10', 'a link-local IPv6 address (fe80::/10)'],
  ['fec0::/10', 'a site-local IPv6 address (fec0::/10, deprecated)'],
  ['ff00::/8', 'a multicast address (ff00::/8)'],
];
const BLOCKS = SPECIAL_PURPOSE.map(([cidr, what]) => ({ range: ipaddr.parseCIDR(cidr), what }));
const GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');
const NAT64 = ipaddr.parseCIDR('64:ff9b::/96');
const SIX_TO_FOUR = ipaddr.parseCIDR('2002::/16');

/** Why an address may not be reached (what it is, in words), or undefined when it may. */
export function forbiddenRange(address: string): string | undefined {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  // The WHATWG URL parser spells IPv6 canonically (ipaddr.js reads `::127.0.0.1` as IPv4-mapped).
  const parsed = ipaddr.parse(
    address.includes(':') ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address,
  );
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    const bytes = v6.toByteArray();
    // Forms that carry an IPv4 address reach that address: judge them by it.
    const embedded = v6.isIPv4MappedAddress()
      ? v6.toIPv4Address()
      : v6.match(NAT64)
        ? new ipaddr.IPv4(bytes.slice(12, 16))
        : v6.match(SIX_TO_FOUR)
          ? new ipaddr.IPv4(bytes.slice(2, 6))
          : undefined;
    if (embedded) {
      const inner = forbiddenRange(embedded.toString());
      return inner ? `a form of ${embedded.toString()}, ${inner}` : undefined;
    }
  }
  const block = BLOCKS.find(
    (b) => b.range[0].kind() === parsed.kind() && parsed.match(b.range as [ipaddr.IPv4, number]),
  );
  if (block) return block.what;
  if (parsed.kind() === 'ipv6' && !parsed.match(GLOBAL_UNICAST))
    return 'an IPv6 address outside global unicast (2000::/3)';
  return undefined;
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
            `${host === address ? address : `${host} resolves to ${address}, which`} is ${range}`,
          ),
          { code: 'SSRF' },
        );
      }
    }
  }
  const first = addresses[0]!;
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}
