// Router counters. Every drop has a reason; the same names appear in logs, metrics and tapvsadm.

export const ROUTER_COUNTERS = [
  // frames seen
  'rx_frames',
  'forwarded',
  'fast_path', // of forwarded: the plain routed frames the fast path took (l3/fast-path.ts)
  'delivered_local',
  // link layer
  'eth_runt',
  'eth_other_host',
  'eth_multicast',
  'eth_unknown_type',
  // GSO super-frames and partial checksums (TAPs with offloads; src/packet/vnet.ts)
  'vnet_malformed',
  'gso_super_frames',
  'gso_segmented',
  'gso_segments_sent',
  'checksums_completed',
  // ARP
  'arp_malformed',
  'arp_requests_answered',
  'arp_requests_sent',
  'arp_not_for_us',
  'arp_conflict',
  'arp_queue_full',
  'arp_parked_over_cap',
  'arp_parked_evicted',
  'arp_resolution_failed',
  'neighbour_evicted',
  // IPv4 validation
  'ip_runt',
  'ip_bad_version',
  'ip_bad_header_length',
  'ip_bad_total_length',
  'ip_bad_checksum',
  'ip_martian_source',
  'ip_broadcast',
  'ip_multicast',
  // forwarding
  'ttl_expired',
  'no_route',
  'frag_needed',
  'fragmented',
  'fragments_sent',
  // local delivery
  'icmp_echo_replied',
  'icmp_malformed',
  'local_unreachable_port',
  'local_unhandled',
  // ICMP errors we send
  'icmp_errors_sent',
  'icmp_rate_limited',
  'icmp_error_suppressed',
  'tcp_resets_sent',
  'tcp_resets_rate_limited',
  // director (virtual services)
  'lvs_in_packets',
  'lvs_forwarded',
  'lvs_conns_created',
  'lvs_nat_out',
  'lvs_no_service',
  'lvs_no_dest',
  'lvs_no_conn',
  'lvs_table_full',
  'lvs_fragment',
  'lvs_malformed',
  'lvs_dest_unroutable',
  'lvs_conn_reused',
  'lvs_icmp_forwarded',
  'lvs_icmp_no_conn',
  'lvs_defense_dropped_entries',
  'lvs_defense_dropped_packets',
  'lvs_nodest_expired',
  // high availability (src/ha/)
  'ha_backup_dropped',
  'vrrp_adverts_sent',
  'vrrp_adverts_received',
  'vrrp_bad_adverts',
  'vrrp_other_vrid',
  'vrrp_transitions',
  'vrrp_two_masters',
  'sync_messages_sent',
  'sync_messages_received',
  'sync_messages_dropped',
  'sync_entries_sent',
  'sync_entries_received',
  'sync_entries_dropped',
  // IPv6 (src/l3/ipv6-router.ts) and neighbour discovery
  'ip6_rx',
  'ip6_forwarded',
  'ip6_disabled',
  'ip6_malformed',
  'ip6_bad_chain',
  'ip6_bad_source',
  'ip6_link_local',
  'ip6_multicast',
  'ip6_hop_limit',
  'ip6_no_route',
  'ip6_too_big',
  'ip6_local_unhandled',
  'icmp6_malformed',
  'icmp6_echo_replied',
  'icmp6_errors_sent',
  'icmp6_errors_suppressed',
  'nd_solicits_answered',
  'nd_solicits_sent',
  'nd_adverts_received',
  'nd_not_for_us',
  'nd_malformed',
  'nd_ignored',
  'nd_conflict',
  'nd_resolution_failed',
  // BFD for the BGP speaker's static routes (src/ha/bfd.ts)
  'bfd_received',
  'bfd_sent',
  'bfd_dropped',
  'bfd_state_changes',
] as const;

export type RouterCounterName = (typeof ROUTER_COUNTERS)[number];
export type RouterCounters = Record<RouterCounterName, number>;

/** Each counter's index in the router's Float64Array: `stats[C.forwarded]++`. */
export const C = Object.freeze(Object.fromEntries(ROUTER_COUNTERS.map((name, i) => [name, i]))) as { readonly [K in RouterCounterName]: number };

export function newCounterArray(): Float64Array {
  return new Float64Array(ROUTER_COUNTERS.length);
}

/** Counters by name, for logs, metrics and tests (allocates: never on the fast path). */
export function counterRecord(values: Float64Array): RouterCounters {
  const out = {} as RouterCounters;
  ROUTER_COUNTERS.forEach((name, i) => (out[name] = values[i]));
  return out;
}
