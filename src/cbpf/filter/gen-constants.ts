/**
 * Constants shared by the code generator's layers: Ethernet types, LLC SAPs, IP protocol numbers,
 * qualifier records, link-type families.
 */
import { DLT } from './linktype.js';

export interface Qual { proto: string; dir: string; addr: string }
export const QDEFAULT: Qual = { proto: 'default', dir: 'default', addr: 'default' };

export const ETHERMTU = 1500;
export const ET = {
  IP: 0x0800, ARP: 0x0806, REVARP: 0x8035, IPV6: 0x86dd, ATALK: 0x809b, AARP: 0x80f3, DN: 0x6003,
  SCA: 0x6007, LAT: 0x6004, MOPDL: 0x6001, MOPRC: 0x6002, IPX: 0x8137, NS: 0x0600, VLAN: 0x8100,
  QINQ: 0x88a8, QINQ_OLD: 0x9100, MPLS: 0x8847, MPLS_MULTI: 0x8848, PPPOED: 0x8863, PPPOES: 0x8864,
  TEB: 0x6558,
} as const;
export const LLCSAP = { IP: 0x06, ISONS: 0xfe, NETBEUI: 0xf0, IPX: 0xe0, SNAP: 0xaa, STP: 0x42 } as const;
export const IPPROTO = {
  ICMP: 1, IGMP: 2, TCP: 6, UDP: 17, IGRP: 9, PIM: 103, VRRP: 112, ICMPV6: 58, AH: 51, ESP: 50, SCTP: 132,
  FRAGMENT: 44, HOPOPTS: 0, ROUTING: 43, DSTOPTS: 60, NONE: 59,
} as const;
export const ISO = { CLNP: 0x81, ESIS: 0x82, ISIS: 0x83 } as const;
export const PROTO_UNDEF = -1;

/** ISO/IS-IS PDU types per abbreviation, in the order libpcap ORs them (last listed comes first). */
export const ISIS_PDUS: Record<string, number[]> = {
  l1: [15, 17, 18, 24, 26], l2: [16, 17, 20, 25, 27], iih: [15, 16, 17], lsp: [18, 20],
  snp: [24, 25, 26, 27], csnp: [24, 25], psnp: [26, 27],
};

/** AF_INET6 on Darwin, on NetBSD/OpenBSD/BSD/OS, and on FreeBSD/DragonFly. */
export const BSD_AF_INET6 = [30, 24, 28];
export const WLAN_DIRS = new Set(['addr1', 'addr2', 'addr3', 'addr4', 'ra', 'ta']);
export const isWlanFamily = (lt: number): boolean =>
  lt === DLT.IEEE802_11 || lt === DLT.PRISM_HEADER || lt === DLT.IEEE802_11_RADIO_AVS ||
  lt === DLT.IEEE802_11_RADIO || lt === DLT.PPI;
export const isEtherLike = (lt: number): boolean =>
  lt === DLT.EN10MB || lt === DLT.NETANALYZER || lt === DLT.NETANALYZER_TRANSPARENT ||
  lt === DLT.DSA_TAG_BRCM || lt === DLT.DSA_TAG_DSA;
