import { TsbpfError } from '../errors.js';

/**
 * Link-layer header types. Files store LINKTYPE_ values (tcpdump.org/linktypes.html); libpcap's API
 * and the filter compiler speak DLT_ values. They are equal except for a handful of historical
 * types whose DLT number differs between operating systems (we follow Linux, as libpcap does here).
 */
export interface LinkTypeEntry {
  /** tcpdump's name (`tcpdump -L`, `-y NAME`), without the DLT_ prefix. */
  name: string;
  /** LINKTYPE_ value, as stored in capture files. */
  linkType: number;
  /** DLT_ value on Linux. */
  dlt: number;
  description: string;
}

const entry = (name: string, linkType: number, description: string, dlt: number = linkType): LinkTypeEntry =>
  ({ name, linkType, dlt, description });

export const LINK_TYPES: readonly LinkTypeEntry[] = [
  entry('NULL', 0, 'BSD loopback'),
  entry('EN10MB', 1, 'Ethernet'),
  entry('EN3MB', 2, 'Experimental Ethernet'),
  entry('AX25', 3, 'Amateur Radio AX.25'),
  entry('PRONET', 4, 'Proteon ProNET Token Ring'),
  entry('CHAOS', 5, 'Chaos'),
  entry('IEEE802', 6, 'IEEE 802 Networks'),
  entry('ARCNET', 7, 'BSD ARCNET'),
  entry('SLIP', 8, 'SLIP'),
  entry('PPP', 9, 'PPP'),
  entry('FDDI', 10, 'FDDI'),
  entry('PPP_SERIAL', 50, 'PPP over serial'),
  entry('PPP_ETHER', 51, 'PPPoE'),
  entry('SYMANTEC_FIREWALL', 99, 'Symantec Firewall'),
  entry('ATM_RFC1483', 100, 'RFC 1483 LLC-encapsulated ATM', 11),
  entry('RAW', 101, 'Raw IP', 12),
  entry('SLIP_BSDOS', 102, 'BSD/OS SLIP', 15),
  entry('PPP_BSDOS', 103, 'BSD/OS PPP', 16),
  entry('C_HDLC', 104, 'Cisco HDLC'),
  entry('IEEE802_11', 105, '802.11'),
  entry('ATM_CLIP', 106, 'Linux Classical IP over ATM', 19),
  entry('FRELAY', 107, 'Frame Relay'),
  entry('LOOP', 108, 'OpenBSD loopback'),
  entry('ENC', 109, 'OpenBSD encapsulated IP'),
  entry('LINUX_SLL', 113, 'Linux cooked v1'),
  entry('LTALK', 114, 'Localtalk'),
  entry('PFLOG', 117, 'OpenBSD pflog file'),
  entry('PRISM_HEADER', 119, '802.11 plus Prism header'),
  entry('IP_OVER_FC', 122, 'RFC 2625 IP-over-Fibre Channel'),
  entry('SUNATM', 123, 'Sun raw ATM'),
  entry('IEEE802_11_RADIO', 127, '802.11 plus radiotap header'),
  entry('ARCNET_LINUX', 129, 'Linux ARCNET'),
  entry('JUNIPER_MLPPP', 130, 'Juniper Multi-Link PPP'),
  entry('JUNIPER_MLFR', 131, 'Juniper Multi-Link Frame Relay'),
  entry('JUNIPER_ES', 132, 'Juniper Encryption Services PIC'),
  entry('JUNIPER_GGSN', 133, 'Juniper GGSN PIC'),
  entry('JUNIPER_MFR', 134, 'Juniper FRF.16 Frame Relay'),
  entry('JUNIPER_ATM2', 135, 'Juniper ATM2 PIC'),
  entry('JUNIPER_SERVICES', 136, 'Juniper Advanced Services PIC'),
  entry('JUNIPER_ATM1', 137, 'Juniper ATM1 PIC'),
  entry('APPLE_IP_OVER_IEEE1394', 138, 'Apple IP-over-IEEE 1394'),
  entry('MTP2_WITH_PHDR', 139, 'SS7 MTP2 with Pseudo-header'),
  entry('MTP2', 140, 'SS7 MTP2'),
  entry('MTP3', 141, 'SS7 MTP3'),
  entry('SCCP', 142, 'SS7 SCCP'),
  entry('DOCSIS', 143, 'DOCSIS'),
  entry('LINUX_IRDA', 144, 'Linux IrDA'),
  ...Array.from({ length: 16 }, (_, i) => entry(`USER${i}`, 147 + i, `DLT ${147 + i}`)),
  entry('IEEE802_11_RADIO_AVS', 163, '802.11 plus AVS radio information header'),
  entry('JUNIPER_MONITOR', 164, 'Juniper Passive Monitor PIC'),
  entry('BACNET_MS_TP', 165, 'BACnet MS/TP'),
  entry('PPP_PPPD', 166, 'PPP for pppd, with direction flag'),
  entry('JUNIPER_PPPOE', 167, 'Juniper PPPoE'),
  entry('JUNIPER_PPPOE_ATM', 168, 'Juniper PPPoE/ATM'),
  entry('GPRS_LLC', 169, 'GPRS LLC'),
  entry('GPF_T', 170, 'GPF-T'),
  entry('GPF_F', 171, 'GPF-F'),
  entry('LINUX_LAPD', 177, 'LAPD'),
  entry('JUNIPER_ETHER', 178, 'Juniper Ethernet'),
  entry('JUNIPER_PPP', 179, 'Juniper PPP'),
  entry('JUNIPER_FRELAY', 180, 'Juniper Frame Relay'),
  entry('JUNIPER_CHDLC', 181, 'Juniper C-HDLC'),
  entry('MFR', 182, 'FRF.16 Frame Relay'),
  entry('JUNIPER_VP', 183, 'Juniper Voice PIC'),
  entry('BLUETOOTH_HCI_H4', 187, 'Bluetooth HCI UART transport layer'),
  entry('USB_LINUX', 189, 'USB with Linux header'),
  entry('PPI', 192, 'Per-Packet Information'),
  entry('IEEE802_15_4', 195, 'IEEE 802.15.4 with FCS'),
  entry('ERF', 197, 'Endace ERF header'),
  entry('BLUETOOTH_HCI_H4_WITH_PHDR', 201, 'Bluetooth HCI UART transport layer plus pseudo-header'),
  entry('PPP_WITH_DIR', 204, 'PPP with direction pseudo-header'),
  entry('C_HDLC_WITH_DIR', 205, 'Cisco HDLC with direction pseudo-header'),
  entry('FRELAY_WITH_DIR', 206, 'Frame Relay with direction pseudo-header'),
  entry('LAPB_WITH_DIR', 207, 'LAPB with direction pseudo-header'),
  entry('IPMB_LINUX', 209, 'IPMB with Linux/Pigeon Point pseudo-header'),
  entry('IEEE802_15_4_NONASK_PHY', 215, 'IEEE 802.15.4 with non-ASK PHY data'),
  entry('USB_LINUX_MMAPPED', 220, 'USB with padded Linux header'),
  entry('FC_2', 224, 'Fibre Channel FC-2'),
  entry('FC_2_WITH_FRAME_DELIMS', 225, 'Fibre Channel FC-2 with frame delimiters'),
  entry('IPNET', 226, 'Solaris ipnet'),
  entry('CAN_SOCKETCAN', 227, 'CAN-bus with SocketCAN headers'),
  entry('IPV4', 228, 'Raw IPv4'),
  entry('IPV6', 229, 'Raw IPv6'),
  entry('IEEE802_15_4_NOFCS', 230, 'IEEE 802.15.4 without FCS'),
  entry('DBUS', 231, 'D-Bus'),
  entry('DVB_CI', 235, 'DVB-CI'),
  entry('MUX27010', 236, 'MUX27010'),
  entry('STANAG_5066_D_PDU', 237, 'STANAG 5066 D_PDUs'),
  entry('NFLOG', 239, 'Linux netfilter log messages'),
  entry('NETANALYZER', 240, 'Ethernet with Hilscher netANALYZER pseudo-header'),
  entry('NETANALYZER_TRANSPARENT', 241, 'Ethernet with netANALYZER pseudo-header, preamble and SFD'),
  entry('IPOIB', 242, 'RFC 4391 IP-over-Infiniband'),
  entry('MPEG_2_TS', 243, 'MPEG-2 transport stream'),
  entry('NG40', 244, 'ng40 protocol tester Iub/Iur'),
  entry('NFC_LLCP', 245, 'NFC LLCP PDUs with pseudo-header'),
  entry('PFSYNC', 246, 'Packet filter state syncing', 18),
  entry('INFINIBAND', 247, 'InfiniBand'),
  entry('SCTP', 248, 'SCTP'),
  entry('USBPCAP', 249, 'USB with USBPcap header'),
  entry('RTAC_SERIAL', 250, 'Schweitzer Engineering Laboratories RTAC packets'),
  entry('BLUETOOTH_LE_LL', 251, 'Bluetooth Low Energy air interface'),
  entry('NETLINK', 253, 'Linux netlink'),
  entry('BLUETOOTH_LINUX_MONITOR', 254, 'Bluetooth Linux Monitor'),
  entry('BLUETOOTH_BREDR_BB', 255, 'Bluetooth Basic Rate/Enhanced Data Rate baseband packets'),
  entry('BLUETOOTH_LE_LL_WITH_PHDR', 256, 'Bluetooth Low Energy air interface with pseudo-header'),
  entry('PROFIBUS_DL', 257, 'PROFIBUS data link layer'),
  entry('PKTAP', 258, 'Apple DLT_PKTAP'),
  entry('EPON', 259, 'Ethernet with 802.3 Clause 65 EPON preamble'),
  entry('IPMI_HPM_2', 260, 'IPMI trace packets'),
  entry('ZWAVE_R1_R2', 261, 'Z-Wave RF profile R1 and R2 packets'),
  entry('ZWAVE_R3', 262, 'Z-Wave RF profile R3 packets'),
  entry('WATTSTOPPER_DLM', 263, 'WattStopper Digital Lighting Management'),
  entry('ISO_14443', 264, 'ISO 14443 messages'),
  entry('RDS', 265, 'IEC 62106 Radio Data System groups'),
  entry('USB_DARWIN', 266, 'USB with Darwin header'),
  entry('SDLC', 268, 'SDLC frames'),
  entry('LORATAP', 270, 'LoRaTap'),
  entry('VSOCK', 271, 'Linux vsock'),
  entry('NORDIC_BLE', 272, 'Nordic Semiconductor Bluetooth LE sniffer'),
  entry('DOCSIS31_XRA31', 273, 'Excentis XRA-31 DOCSIS 3.1 RF sniffer'),
  entry('ETHERNET_MPACKET', 274, '802.3br mPackets'),
  entry('DISPLAYPORT_AUX', 275, 'DisplayPort AUX channel monitoring data'),
  entry('LINUX_SLL2', 276, 'Linux cooked v2'),
  entry('OPENVIZSLA', 278, 'OpenVizsla USB'),
  entry('EBHSCR', 279, 'Elektrobit High Speed Capture and Replay (EBHSCR)'),
  entry('VPP_DISPATCH', 280, 'VPP graph dispatch tracer'),
  entry('DSA_TAG_BRCM', 281, 'Broadcom tag'),
  entry('DSA_TAG_BRCM_PREPEND', 282, 'Broadcom tag (prepended)'),
  entry('IEEE802_15_4_TAP', 283, 'IEEE 802.15.4 with pseudo-header'),
  entry('DSA_TAG_DSA', 284, 'Marvell DSA'),
  entry('DSA_TAG_EDSA', 285, 'Marvell EDSA'),
  entry('ELEE', 286, 'ELEE lawful intercept'),
  entry('Z_WAVE_SERIAL', 287, 'Z-Wave serial frames'),
  entry('USB_2_0', 288, 'USB 2.0/1.1/1.0 as transmitted'),
  entry('ATSC_ALP', 289, 'ATSC Link-Layer Protocol'),
];

/** LINKTYPE_ values for the ones code refers to by name. */
export const LinkType = {
  NULL: 0, EN10MB: 1, SLIP: 8, PPP: 9, PPP_SERIAL: 50, RAW: 101, C_HDLC: 104, IEEE802_11: 105,
  LOOP: 108, LINUX_SLL: 113, PFLOG: 117, IEEE802_11_RADIO: 127, IPV4: 228, IPV6: 229, NFLOG: 239,
  LINUX_SLL2: 276,
} as const;

const byLinkType = new Map(LINK_TYPES.map((e) => [e.linkType, e]));
const byDlt = new Map<number, LinkTypeEntry>();
for (const e of LINK_TYPES) if (!byDlt.has(e.dlt)) byDlt.set(e.dlt, e);
const byName = new Map(LINK_TYPES.map((e) => [e.name.toUpperCase(), e]));
/** Names libpcap also accepts. */
byName.set('IEEE802_15_4_WITHFCS', byLinkType.get(195)!);
byName.set('PPP_HDLC', byLinkType.get(50)!);
byName.set('LINUX_SLL1', byLinkType.get(113)!);

/** The entry for a LINKTYPE_ value, or undefined for numbers we have no name for. */
export function linkTypeInfo(linkType: number): LinkTypeEntry | undefined {
  return byLinkType.get(linkType);
}

/** tcpdump's name for a LINKTYPE_ value, or `LINKTYPE_n` when unknown. */
export function linkTypeName(linkType: number): string {
  return byLinkType.get(linkType)?.name ?? `LINKTYPE_${linkType}`;
}

/** The DLT_ value libpcap reports for a LINKTYPE_ stored in a file (unknown values pass through). */
export function dltFromLinkType(linkType: number): number {
  return byLinkType.get(linkType)?.dlt ?? linkType;
}

/** The LINKTYPE_ value to store for a DLT_ value. */
export function linkTypeFromDlt(dlt: number): number {
  return byDlt.get(dlt)?.linkType ?? dlt;
}

/**
 * Resolves `-y` style input: a tcpdump name (`EN10MB`, `dlt_raw`, `LINKTYPE_RAW`) or a number,
 * which is read as a LINKTYPE_ value. Returns the LINKTYPE_ value.
 */
export function parseLinkType(text: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const upper = trimmed.toUpperCase().replace(/^(DLT_|LINKTYPE_)/, '');
  const found = byName.get(upper);
  if (!found) throw new TsbpfError('net/unknown-link-type', `unknown link type '${text}'`);
  return found.linkType;
}

/** libpcap's cap on a packet's captured length, per link type (bigger caplens are file damage). */
export function maxSnaplenForLinkType(linkType: number): number {
  switch (linkType) {
    case 231: return 128 * 1024 * 1024; // D-Bus messages can be huge
    case 279: return 8 * 1024 * 1024; // EBHSCR
    case 249: return 1024 * 1024; // USBPcap
    default: return 262144;
  }
}
