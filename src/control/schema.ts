// The config's JSON Schema (draft-07), for editors: `tapvs schema` prints it, and a config may
// name it with "$schema". tapvs itself validates with its own parser (config.ts), whose errors
// name the field and say what would be right; a test holds the two to the same fields and types.

const ipv4 = { type: 'string', pattern: '^(\\d{1,3}\\.){3}\\d{1,3}$', description: 'an IPv4 address, like 192.168.1.2' };
const cidr = { type: 'string', pattern: '^(\\d{1,3}\\.){3}\\d{1,3}/\\d{1,2}$', description: 'an address with its prefix length, like 10.0.0.1/24' };
const cidr6 = { type: 'string', pattern: '^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*/\\d{1,3}$', description: 'an IPv6 address with its prefix length, like 2001:db8::1/64' };
const ipv6 = { type: 'string', pattern: '^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$', description: 'an IPv6 address, like 2001:db8::1' };
const mac = { type: 'string', pattern: '^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$', description: 'a MAC address, like 02:00:00:00:00:01' };
const int = (minimum: number, maximum: number, description?: string) => ({ type: 'integer', minimum, maximum, ...(description ? { description } : {}) });
const bool = (description: string) => ({ type: 'boolean', description });
const str = (description: string) => ({ type: 'string', minLength: 1, description });
const closed = (properties: Record<string, unknown>, required: string[] = [], description?: string) => ({ type: 'object', additionalProperties: false, properties, ...(required.length ? { required } : {}), ...(description ? { description } : {}) });
const fileMode = { type: 'string', pattern: '^0?[0-7]{3}$', description: 'an octal file mode, like 0600' };
const protocol = { enum: ['tcp', 'udp'] };

const healthCheck = closed(
  {
    type: { enum: ['tcp', 'http', 'udp', 'command'] },
    port: int(1, 65535, "the port probed; the real server's when absent"),
    path: str('http: the path to GET'),
    expectStatus: int(100, 599, 'http: the status that means healthy'),
    send: { type: 'string', pattern: '^([0-9A-Fa-f]{2})*$', description: 'udp: bytes to send, in hex' },
    command: { type: 'array', items: { type: 'string' }, minItems: 1, description: "command: run with the server's address and port appended; exit 0 is healthy" },
    interval: int(1, 3600, 'seconds between probes'),
    timeout: int(1, 3600, 'seconds a probe may take (at most the interval)'),
    rise: int(1, 100, 'successes that bring a server back'),
    fall: int(1, 100, 'failures that take it out'),
    onFail: { enum: ['inhibit', 'remove'], description: 'inhibit: weight 0, connections carry on; remove: out of the service' },
  },
  ['type'],
);

const realServer = closed(
  {
    address: { anyOf: [ipv4, ipv6], description: "the VIP's family: IPv6 for an IPv6 service" },
    port: int(0, 65535, 'only nat may differ from the service port'),
    weight: int(0, 65535),
    method: { enum: ['dr', 'nat', 'tun'], description: "ipvsadm's -g, -m, -i" },
    upperThreshold: int(0, 2 ** 31 - 1),
    lowerThreshold: int(0, 2 ** 31 - 1),
  },
  ['address'],
);

const service = closed(
  {
    protocol,
    vip: { anyOf: [ipv4, ipv6] },
    port: int(0, 65535, '0 takes every port'),
    fwmark: int(1, 2 ** 32 - 1, 'a firewall-mark style service: it groups members'),
    members: { type: 'array', items: closed({ protocol, port: int(0, 65535) }, ['protocol']) },
    scheduler: { enum: ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'sh', 'dh', 'lblc', 'lblcr', 'mh', 'fo', 'ovf', 'twos'] },
    persistence: int(0, 2 ** 31 - 1, 'seconds (ipvsadm -p)'),
    netmask: { anyOf: [ipv4, int(1, 128, 'an IPv6 service: a prefix length (ipvsadm -M)')] },
    onePacket: bool('schedule every UDP datagram alone (ipvsadm -o)'),
    udpTimeout: int(1, 31 * 24 * 3600),
    pe: { enum: ['sip'] },
    healthCheck,
    flags: { type: 'array', items: { enum: ['sh-fallback', 'sh-port', 'mh-fallback', 'mh-port'] } },
    iface: str('the interface that answers ARP for the VIP; none for a routed VIP'),
    realServers: { type: 'array', items: realServer },
  },
  ['vip'],
);

const vrrp = closed(
  {
    name: str('for logs and tapvsadm'),
    iface: str('the interface VRRP advertises on'),
    vrid: int(1, 255),
    priority: int(1, 255),
    advertIntervalMs: int(10, 255_000, 'v3: a multiple of 10; v2: of 1000'),
    preempt: bool("take over from a lower-priority master (false: keepalived's nopreempt)"),
    version: { enum: [2, 3] },
    virtualMac: bool('answer with 00:00:5e:00:01:VRID'),
    addresses: {
      type: 'array',
      minItems: 1,
      maxItems: 40,
      description: '1 to 20 IPv4 addresses (advertised), and up to 20 IPv6 ones that move with them',
      items: { oneOf: [ipv4, ipv6, closed({ address: { oneOf: [ipv4, ipv6] }, iface: str('the interface it lives on') }, ['address'])] },
    },
  },
  ['iface', 'vrid', 'addresses'],
);

export const CONFIG_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://tapvs.invalid/schema/tapvs.json',
  title: 'tapvs config',
  ...closed(
    {
      $schema: { type: 'string', description: 'this schema, for editors' },
      interfaces: {
        type: 'array',
        minItems: 1,
        items: closed(
          {
            name: str("the interface's name in logs and routes"),
            tap: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,15}$' },
            tapMode: { enum: ['attach', 'create', 'auto'] },
            nic: mac,
            mac,
            mtu: int(576, 1900),
            addresses: { type: 'array', items: { anyOf: [cidr, cidr6] } },
          },
          ['name'],
        ),
      },
      management: closed({ nic: mac, addresses: { type: 'array', minItems: 1, items: cidr }, gateway: ipv4 }, ['nic', 'addresses']),
      bgp: closed({
        birdSocket: str("BIRD's control socket"),
        routesFile: str("the static routes file BIRD's config includes"),
        routesFile6: str("the IPv6 static routes file BIRD's config includes"),
        nextHop: ipv4,
        nextHop6: ipv6,
        bfd: closed(
          { peers: { type: 'array', items: { oneOf: [ipv4, ipv6] }, minItems: 1, maxItems: 16, description: "the BGP speakers' addresses that keep a BFD session to tapvs" }, intervalMs: int(10, 10_000, 'BFD transmit and receive interval once Up'), multiplier: int(1, 255, 'packets missed before the peer declares tapvs down') },
          ['peers'],
        ),
      }),
      offload: bool('TAPs with virtio-net headers and TSO/checksum offloads: TCP as 64 KiB super-frames'),
      system: closed({
        hostname: { type: 'string', pattern: '^[A-Za-z0-9.-]{1,63}$', description: "the appliance's host name" },
        timezone: str('an IANA time zone, like Europe/Berlin'),
        ntp: { type: 'array', maxItems: 4, items: ipv4, description: 'NTP servers, reached from the management NIC' },
        ssh: closed({ authorizedKeys: { type: 'array', items: { type: 'string', pattern: '^(ssh-|ecdsa-|sk-)', description: "a .pub file's line: TYPE BASE64 [COMMENT]" } } }, ['authorizedKeys']),
      }),
      routes: { type: 'array', items: closed({ to: { anyOf: [{ const: 'default' }, cidr, cidr6] }, via: { anyOf: [ipv4, ipv6] }, dev: str('an on-link interface') }, ['to']) },
      services: { type: 'array', items: service },
      director: closed({
        maxConnections: int(16, 1 << 26),
        timeouts: closed({ tcp: int(1, 31 * 24 * 3600), tcpfin: int(1, 31 * 24 * 3600), udp: int(1, 31 * 24 * 3600) }),
        defense: closed({ amemthresh: int(0, 1 << 26), dropEntry: int(0, 3), dropPacket: int(0, 3), secureTcp: int(0, 3), amDropRate: int(2, 1_000_000) }),
        sloppyTcp: bool('a mid-stream TCP segment of an unknown connection opens one'),
        handoffFile: { type: ['string', 'null'], description: 'where a graceful stop writes the connection table' },
      }),
      control: closed({
        socket: str('the control socket tapvsadm talks to'),
        mode: fileMode,
        metrics: { type: 'string', pattern: '^[^:]+:\\d{1,5}$', description: 'ADDR:PORT for Prometheus' },
        readOnly: closed({ socket: str('a socket for monitoring'), mode: fileMode, group: { type: ['string', 'integer'] } }, ['socket']),
        maxClients: int(1, 1024),
      }),
      icmp: closed({ ratePerSecond: int(0, 1_000_000), burst: int(1, 1_000_000), perDestinationPerSecond: int(0, 1_000_000), perDestinationBurst: int(1, 1_000_000) }),
      neighbour: closed({
        reachableMs: int(1, 10_000_000),
        retransmitMs: int(1, 10_000_000),
        maxProbes: int(1, 10_000_000),
        staleGcMs: int(1, 10_000_000),
        queuePerNeighbour: int(1, 10_000_000),
        maxEntries: int(1, 10_000_000),
      }),
      ttl: int(1, 255),
      log: closed({ level: { enum: ['trace', 'debug', 'info', 'warn', 'error'] } }),
      ha: closed({
        vrrp: { type: 'array', items: vrrp },
        sync: closed({ iface: str('where sync goes out and comes in'), syncid: int(0, 255), peer: ipv4, resyncTimeoutMs: int(0, 3_600_000) }, ['iface']),
      }),
    },
    ['interfaces'],
  ),
};
