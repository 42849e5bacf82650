/**
 * Link-layer header types (DLT_*) the compiler knows, by tcpdump name and number, with the header
 * offsets libpcap's init_linktype sets for each: where the link-layer type field is, where the
 * payload starts, and where the network header starts after an 802.2 LLC header with/without SNAP.
 */
import { FilterError } from './errors.js';

export const DLT = {
  NULL: 0, EN10MB: 1, EN3MB: 2, AX25: 3, PRONET: 4, CHAOS: 5, IEEE802: 6, ARCNET: 7, SLIP: 8, PPP: 9,
  FDDI: 10, ATM_RFC1483: 11, RAW: 12, SLIP_BSDOS: 15, PPP_BSDOS: 16, ATM_CLIP: 19, PPP_SERIAL: 50,
  PPP_ETHER: 51, SYMANTEC_FIREWALL: 99, C_HDLC: 104, IEEE802_11: 105, FRELAY: 107, LOOP: 108, ENC: 109,
  LINUX_SLL: 113, LTALK: 114, PFLOG: 117, PRISM_HEADER: 119, IP_OVER_FC: 122, SUNATM: 123,
  IEEE802_11_RADIO: 127, ARCNET_LINUX: 129, JUNIPER_MLPPP: 130, JUNIPER_MLFR: 131, JUNIPER_ES: 132,
  JUNIPER_GGSN: 133, JUNIPER_MFR: 134, JUNIPER_ATM2: 135, JUNIPER_SERVICES: 136, JUNIPER_ATM1: 137,
  APPLE_IP_OVER_IEEE1394: 138, MTP2_WITH_PHDR: 139, MTP2: 140, MTP3: 141, SCCP: 142, DOCSIS: 143,
  LINUX_IRDA: 144, IEEE802_11_RADIO_AVS: 163, BACNET_MS_TP: 165, PPP_PPPD: 166, ERF: 197, PPI: 192,
  IPNET: 226, IPV4: 228, IPV6: 229, NETANALYZER: 240, NETANALYZER_TRANSPARENT: 241, LINUX_SLL2: 276,
  DSA_TAG_BRCM: 281, DSA_TAG_BRCM_PREPEND: 282, DSA_TAG_DSA: 284, DSA_TAG_EDSA: 285,
  JUNIPER_MONITOR: 164, JUNIPER_PPPOE: 167, JUNIPER_PPPOE_ATM: 168, JUNIPER_ETHER: 178,
  JUNIPER_PPP: 179, JUNIPER_FRELAY: 180, JUNIPER_CHDLC: 181, JUNIPER_VP: 183, JUNIPER_ISM: 194, JUNIPER_ST: 200,
  JUNIPER_VS: 209, JUNIPER_SRX_E2E: 210, JUNIPER_FIBRECHANNEL: 211, JUNIPER_ATM_CEMIC: 238,
} as const;

/** Juniper's capture headers: all start with the "MGC" cookie and a direction flag. */
export const isJuniper = (dlt: number): boolean => JUNIPER.has(dlt);
const JUNIPER = new Set<number>([130, 131, 132, 133, 134, 135, 136, 137, 164, 167, 168, 178, 179, 180, 181, 183,
  194, 200, 209, 210, 211, 238]);

/** LINKTYPE_* numbers that differ from the DLT_* value libpcap uses internally. */
const LINKTYPE_ALIASES: Record<number, number> = { 101: DLT.RAW, 14: DLT.RAW, 100: DLT.ATM_RFC1483, 50: DLT.PPP_SERIAL };

const NOT_SET = -1;

export interface LinkOffsets {
  /** Offset of the link-layer header (non-zero for headers in front of 802.11 or Ethernet). */
  linkhdr: number;
  linkhdrVariable: boolean;
  linktype: number;
  linkpl: number;
  linkplVariable: boolean;
  nl: number;
  nlNosnap: number;
}

const off = (linktype: number, linkpl: number, nl = 0, nlNosnap = 0, linkhdr = 0): LinkOffsets =>
  ({ linkhdr, linkhdrVariable: false, linktype, linkpl, linkplVariable: false, nl, nlNosnap });
const wlan = (linkhdr: number, linkhdrVariable: boolean): LinkOffsets =>
  ({ linkhdr, linkhdrVariable, linktype: 24, linkpl: 0, linkplVariable: true, nl: 8, nlNosnap: 3 });

const OFFSETS: Record<number, LinkOffsets> = {
  [DLT.ARCNET]: off(2, 6),
  [DLT.ARCNET_LINUX]: off(4, 8),
  [DLT.EN10MB]: off(12, 14, 0, 3),
  [DLT.DSA_TAG_BRCM]: off(16, 18, 0, 3),
  [DLT.DSA_TAG_DSA]: off(16, 18, 0, 3),
  [DLT.NETANALYZER]: off(16, 18, 0, 3, 4),
  [DLT.NETANALYZER_TRANSPARENT]: off(24, 26, 0, 3, 12),
  [DLT.SLIP]: off(NOT_SET, 16),
  [DLT.SLIP_BSDOS]: off(NOT_SET, 24),
  [DLT.NULL]: off(0, 4),
  [DLT.LOOP]: off(0, 4),
  [DLT.ENC]: off(0, 12),
  [DLT.PPP]: off(2, 4),
  [DLT.PPP_PPPD]: off(2, 4),
  [DLT.C_HDLC]: off(2, 4, 0, 1),
  [DLT.PPP_SERIAL]: off(2, 4),
  [DLT.PPP_ETHER]: off(6, 8),
  [DLT.PPP_BSDOS]: off(5, 24),
  [DLT.FDDI]: off(13, 13, 8, 3),
  [DLT.IEEE802]: off(14, 14, 8, 3),
  [DLT.IEEE802_11]: wlan(0, false),
  [DLT.PRISM_HEADER]: wlan(0, true),
  [DLT.IEEE802_11_RADIO_AVS]: wlan(0, true),
  [DLT.IEEE802_11_RADIO]: wlan(0, true),
  [DLT.PPI]: wlan(0, true),
  [DLT.ATM_RFC1483]: off(0, 0, 8, 3),
  [DLT.ATM_CLIP]: off(0, 0, 8, 3),
  [DLT.SUNATM]: off(4, 4, 8, 3),
  [DLT.RAW]: off(NOT_SET, 0),
  [DLT.IPV4]: off(NOT_SET, 0),
  [DLT.IPV6]: off(NOT_SET, 0),
  [DLT.LINUX_SLL]: off(14, 16),
  [DLT.LINUX_SLL2]: off(0, 20),
  [DLT.LTALK]: off(NOT_SET, 0),
  [DLT.IP_OVER_FC]: off(16, 16, 8, 3),
  [DLT.PFLOG]: { linkhdr: 0, linkhdrVariable: false, linktype: 0, linkpl: 0, linkplVariable: true, nl: 0, nlNosnap: 0 },
  [DLT.APPLE_IP_OVER_IEEE1394]: off(16, 18),
  [DLT.SYMANTEC_FIREWALL]: off(6, 44),
  [DLT.IPNET]: off(1, 24),
  [DLT.FRELAY]: off(NOT_SET, NOT_SET),
  [DLT.MTP2]: off(NOT_SET, NOT_SET),
  [DLT.MTP2_WITH_PHDR]: off(NOT_SET, NOT_SET),
  [DLT.BACNET_MS_TP]: off(NOT_SET, NOT_SET),
  [DLT.JUNIPER_MFR]: off(NOT_SET, NOT_SET),
  [DLT.JUNIPER_MLFR]: off(NOT_SET, NOT_SET),
  [DLT.JUNIPER_MLPPP]: off(NOT_SET, NOT_SET),
  [DLT.JUNIPER_ES]: off(NOT_SET, NOT_SET),
  [DLT.JUNIPER_GGSN]: off(NOT_SET, NOT_SET),
  [DLT.JUNIPER_ATM1]: off(NOT_SET, NOT_SET),
  [DLT.JUNIPER_ATM2]: off(NOT_SET, NOT_SET),
  [DLT.JUNIPER_SERVICES]: off(NOT_SET, NOT_SET),
};

export function linkOffsets(dlt: number): LinkOffsets | undefined {
  // Known types without a network layer libpcap can find: every protocol test fails with its own error.
  return OFFSETS[dlt] ?? (isJuniper(dlt) || Object.values(DLT).includes(dlt as 0) ? off(NOT_SET, NOT_SET) : undefined);
}

/** A link type given as tcpdump's name (`EN10MB`, `DLT_EN10MB`, case-insensitive) or a number. */
export function resolveLinkType(lt: number | string | undefined): number {
  if (lt === undefined) return DLT.EN10MB;
  if (typeof lt === 'number') return LINKTYPE_ALIASES[lt] ?? lt;
  const name = lt.toUpperCase().replace(/^(DLT|LINKTYPE)_/, '');
  if (/^[0-9]+$/.test(name)) return resolveLinkType(parseInt(name, 10));
  const v = (DLT as Record<string, number>)[name];
  if (v === undefined) throw new FilterError(`unknown link-layer type '${lt}'`, undefined, 'FILTER_LINKTYPE');
  return v;
}

export function linkTypeName(dlt: number): string {
  for (const [k, v] of Object.entries(DLT)) if (v === dlt) return k;
  return `DLT ${dlt}`;
}
