/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_TEST_VECTORS_H
#define VISP_TEST_VECTORS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * /work/shared/cjdns/wire-captures-v21.1.txt as C: every request and reply
 * byte for byte (cjdroute v21.1, admin password "topo-admin-pw"). req_ok says
 * whether the request is one valid bencoded value; three are not (the
 * garbage and trailing-bytes cases, and "request > 512 bytes", which the
 * capture file itself cut short). The valid ones are canonical. resp is NULL
 * where cjdns stayed silent.
 */
struct capture {
	const char *name;
	const char *req;
	size_t req_len;
	bool req_ok;
	const char *resp;
	size_t resp_len;
};

#define CAP_BYTES(s) s, sizeof(s) - 1

static const struct capture captures[] __attribute__((unused)) = {
	{ "ping with txid",
		CAP_BYTES("d1:q4:ping4:txid3:abce"),
		true,
		CAP_BYTES("d001:q4:pong4:txid3:abce") },
	{ "ping without txid",
		CAP_BYTES("d1:q4:pinge"),
		true,
		CAP_BYTES("d000001:q4:ponge") },
	{ "ping with binary txid",
		CAP_BYTES("d1:q4:ping4:txid3:\x00\xff\x01" "e"),
		true,
		CAP_BYTES("d001:q4:pong4:txid3:\x00\xff\x01" "e") },
	{ "ping with integer txid (not a string)",
		CAP_BYTES("d1:q4:ping4:txidi42ee"),
		true,
		CAP_BYTES("d000001:q4:ponge") },
	{ "cookie",
		CAP_BYTES("d1:q6:cookie4:txid1:ce"),
		true,
		CAP_BYTES("d6:cookie10:17532300504:txid1:ce") },
	{ "message without q",
		CAP_BYTES("d4:txid1:xe"),
		true,
		NULL, 0 },
	{ "garbage (not bencode)",
		CAP_BYTES("hello world"),
		false,
		NULL, 0 },
	{ "trailing garbage after dict",
		CAP_BYTES("d1:q4:pingexx"),
		false,
		NULL, 0 },
	{ "unknown function, unauthenticated",
		CAP_BYTES("d1:q7:Foo_bar4:txid1:ue"),
		true,
		CAP_BYTES("d005:error65:No functions matched your request, try Admin_availableFunct"
		"ions()4:txid1:ue") },
	{ "unknown function, authenticated",
		CAP_BYTES("d2:aq7:Foo_bar4:argsde6:cookie10:17532300564:hash64:25fc1e3584c0b8016b49"
		"0481625a54d4ba0c26002955e4d259f05468bdea7e201:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d05:error65:No functions matched your request, try Admin_availableFuncti"
		"ons()4:txid2:t1e") },
	{ "auth-required fn without auth",
		CAP_BYTES("d1:q24:IpTunnel_listConnections4:txid1:ne"),
		true,
		CAP_BYTES("d005:error65:No functions matched your request, try Admin_availableFunct"
		"ions()4:txid1:ne") },
	{ "auth-free fn (peerStats) without auth",
		CAP_BYTES("d1:q29:InterfaceController_peerStats4:txid1:ne"),
		true,
		CAP_BYTES("d0005:peersld4:addr78:v21.0000.0000.0000.0013.5sh08zrr9wfs9ulyupn1kp6pry"
		"7q0h6yb80s48k044fr9z2p4xz0.k7:bytesIni35728e8:bytesOuti35436e10:duplicat"
		"esi0e5:ifNumi0e10:isIncomingi1e4:lasti1795307576993e6:lladdr15:10.99.0.2"
		":1927311:lostPacketsi3e18:receivedOutOfRangei0e15:receivedPacketsi278e8:"
		"recvKbpsi2e8:sendKbpsi2e5:state11:ESTABLISHED4:user5:outeree5:totali1e4:"
		"txid1:ne") },
	{ "wrong password",
		CAP_BYTES("d2:aq24:IpTunnel_listConnections4:argsde6:cookie10:17532300564:hash64:d0"
		"c746a85acbfd3150ce9ad6fb1e702888e718b9d412af546fba522d5c7837501:q4:auth4"
		":txid2:t1e"),
		true,
		CAP_BYTES("d0000005:error12:Auth failed.4:txid2:t1e") },
	{ "stale cookie (now-30s)",
		CAP_BYTES("d2:aq24:IpTunnel_listConnections4:argsde6:cookie10:17953075474:hash64:6e"
		"91010031b8215ce0dfa4458a424c9d4fcff2e2fd7535f6ddc5f489b2f6346b1:q4:auth4"
		":txid2:t1e"),
		true,
		CAP_BYTES("d0000005:error12:Auth failed.4:txid2:t1e") },
	{ "future cookie (now+30s)",
		CAP_BYTES("d2:aq24:IpTunnel_listConnections4:argsde6:cookie10:17953076074:hash64:62"
		"e657f7dcacf2723cadfa8c1079f07c791d2729b4c57a427b22652551335b731:q4:auth4"
		":txid2:t1e"),
		true,
		CAP_BYTES("d0000005:error12:Auth failed.4:txid2:t1e") },
	{ "cookie reuse #1",
		CAP_BYTES("d2:aq24:IpTunnel_listConnections4:argsde6:cookie10:17532300564:hash64:a2"
		"db7ccb4e0317a348a7f512241d32083ec35a7e546776b9e280ca396830bb251:q4:auth4"
		":txid2:t1e"),
		true,
		CAP_BYTES("d000011:connectionsli0ee5:error4:none4:txid2:t1e") },
	{ "cookie reuse #2 (same cookie, identical request = replay)",
		CAP_BYTES("d2:aq24:IpTunnel_listConnections4:argsde6:cookie10:17532300564:hash64:a2"
		"db7ccb4e0317a348a7f512241d32083ec35a7e546776b9e280ca396830bb251:q4:auth4"
		":txid2:t1e"),
		true,
		CAP_BYTES("d000011:connectionsli0ee5:error4:none4:txid2:t1e") },
	{ "auth without args key at all",
		CAP_BYTES("d2:aq24:IpTunnel_listConnections4:argsde6:cookie10:17532300564:hash64:51"
		"5447f0b55acadda8df6d6c936fa3f9fe47083895db1db0de8057a7f36b03781:q4:auth4"
		":txid1:te"),
		true,
		CAP_BYTES("d0000011:connectionsli0ee5:error4:none4:txid1:te") },
	{ "integer cookie",
		CAP_BYTES("d2:aq24:IpTunnel_listConnections4:argsde6:cookiei1753230056e4:hash64:4f7"
		"9d5b30214923e12e3e62611ddd9d4c39b12f2591628983e442370501bdb9d1:q4:auth4:"
		"txid2:ice"),
		true,
		CAP_BYTES("d000011:connectionsli0ee5:error4:none4:txid2:ice") },
	{ "request > 512 bytes",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd3:pad400:xxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxx"),
		false,
		CAP_BYTES("d5:error16:Request too big.e") },
	{ "Admin_asyncEnabled",
		CAP_BYTES("d1:q18:Admin_asyncEnabled4:txid2:aee"),
		true,
		CAP_BYTES("d0012:asyncEnabledi1e4:txid2:aee") },
	{ "availableFunctions page 0",
		CAP_BYTES("d4:argsd4:pagei0ee1:q24:Admin_availableFunctions4:txid2:afe"),
		true,
		CAP_BYTES("d18:availableFunctionsd18:Admin_asyncEnabledde24:Admin_availableFunction"
		"sd4:paged8:requiredi0e4:type3:Intee14:Admin_exportFdd2:fdd8:requiredi1e4"
		":type3:Intee14:Admin_importFdde20:RouteGen_getPrefixesd3:ip6d8:requiredi"
		"0e4:type3:Inte4:paged8:requiredi0e4:type3:Intee29:UpperDistributor_listH"
		"andlersd4:paged8:requiredi0e4:type3:Intee32:UpperDistributor_registerHan"
		"dlerd11:contentTyped8:requiredi1e4:type3:Inte7:udpPortd8:requiredi1e4:ty"
		"pe3:Intee34:UpperDistributor_unregisterHandlerd7:udpPortd8:requiredi1e4:"
		"type3:Inteee4:morei1e4:txid2:afe") },
	{ "availableFunctions page 99",
		CAP_BYTES("d4:argsd4:pagei99ee1:q24:Admin_availableFunctions4:txid2:afe"),
		true,
		CAP_BYTES("d0000018:availableFunctionsde4:txid2:afe") },
	{ "peerStats page 0",
		CAP_BYTES("d2:aq29:InterfaceController_peerStats4:argsd4:pagei0ee6:cookie10:1753230"
		"0564:hash64:bfad5051890b77c1b36f5f8174705557539b675c7091b1f6083add42f46d"
		"90fa1:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d005:peersld4:addr78:v21.0000.0000.0000.0013.5sh08zrr9wfs9ulyupn1kp6pry7"
		"q0h6yb80s48k044fr9z2p4xz0.k7:bytesIni35728e8:bytesOuti35436e10:duplicate"
		"si0e5:ifNumi0e10:isIncomingi1e4:lasti1795307576993e6:lladdr15:10.99.0.2:"
		"1927311:lostPacketsi3e18:receivedOutOfRangei0e15:receivedPacketsi278e8:r"
		"ecvKbpsi2e8:sendKbpsi2e5:state11:ESTABLISHED4:user5:outeree5:totali1e4:t"
		"xid2:t1e") },
	{ "peerStats page 5",
		CAP_BYTES("d2:aq29:InterfaceController_peerStats4:argsd4:pagei5ee6:cookie10:1753230"
		"0564:hash64:ff00afeb7e7696c42daada18114b96dcfaa97f95327fb2e50f67d1738d6c"
		"97021:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d05:peersle5:totali1e4:txid2:t1e") },
	{ "InterfaceController_interfaces",
		CAP_BYTES("d2:aq30:InterfaceController_interfaces4:argsde6:cookie10:17532300564:has"
		"h64:c93538a619b72cfb894217ce5615109fd4adeee640f21b5634d31f5a8afb6f4a1:q4"
		":auth4:txid2:t1e"),
		true,
		CAP_BYTES("d0006:ifacesld11:beaconState8:DISABLED5:ifNumi0e4:name24:UDP/IPv4/10.99."
		"0.1:19273ee5:totali1e4:txid2:t1e") },
	{ "Core_nodeInfo",
		CAP_BYTES("d2:aq13:Core_nodeInfo4:argsde6:cookie10:17532300564:hash64:d55e4dc1d3bd5"
		"f83e75f86029a9764cb484724a75f5fbe0fa4f024134682f7741:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000000019:compressedSchemeHex10:611445810014:encodingSchemeld8:bitCount"
		"i3e6:prefix2:019:prefixLeni1eed8:bitCounti5e6:prefix2:029:prefixLeni2eed"
		"8:bitCounti8e6:prefix2:009:prefixLeni2eee5:error4:none6:myAddr78:v21.000"
		"0.0000.0000.0001.kwvflnpp437rfp0u5v3g376uxv9hmcgcg6llvucslw1b4z5v9k60.k5"
		":myIp639:fc1e:be5e:fefa:8ce4:f5f4:06f8:3582:2f214:txid2:t17:versioni21ee") },
	{ "Core_pid",
		CAP_BYTES("d2:aq8:Core_pid4:argsde6:cookie10:17532300564:hash64:ea681eb3cc60242de53"
		"d7416a051cceac4c5bc9225742fb993dfc51c3347590f1:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d3:pidi14581e4:txid2:t1e") },
	{ "allowConnection: no address at all",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd25:publicKeyOfAuthorizedNode54:5s"
		"h08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz0.ke6:cookie10:17532300"
		"564:hash64:d5b27a8164dd51c241186ae5408768b47ae54d5b9a308d2028f6d9f560cb4"
		"1f11:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000005:error37:Must specify ip6Address or ip4Address4:txid2:t1e") },
	{ "allowConnection: missing key",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address9:10.66.0.9e6:cookie"
		"10:17532300564:hash64:064f28fcd6ac842a473afc7786fd7e81e8e5e02a9bc619b60e"
		"2218a8f6fea7dd1:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d5:error74:Entry [publicKeyOfAuthorizedNode] is required and must be of "
		"type [String]4:txid2:t1e") },
	{ "allowConnection: key as int",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address9:10.66.0.925:public"
		"KeyOfAuthorizedNodei5ee6:cookie10:17532300564:hash64:4255591e7c842d5705e"
		"7c03d609a3def6c1c56392c0c23cb67fb76a2a1c0b0891:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d5:error74:Entry [publicKeyOfAuthorizedNode] is required and must be of "
		"type [String]4:txid2:t1e") },
	{ "allowConnection: short key",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address9:10.66.0.925:public"
		"KeyOfAuthorizedNode5:abc.ke6:cookie10:17532300564:hash64:3e948408e30a853"
		"b3364bb5d0e3c828b0226d9c51c9f32fcd18e2883a893d2bd1:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d00005:error30:key must be 52 characters long4:txid2:t1e") },
	{ "allowConnection: key without .k",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address9:10.66.0.925:public"
		"KeyOfAuthorizedNode52:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4x"
		"z0e6:cookie10:17532300564:hash64:6a6f0158a64613a2a7ee368ecfd165aecbfdb09"
		"9d8579c1c224b4273bce716b41:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d5:error18:key must end in .k4:txid2:t1e") },
	{ "allowConnection: key bad base32 char",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address9:10.66.0.925:public"
		"KeyOfAuthorizedNode54:ash08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4x"
		"z0.ke6:cookie10:17532300564:hash64:e22aefed67e134b175da396842955737374ec"
		"e4b1f240974f29737cb4a2b1c291:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d0000005:error28:failed to base-32 decode key4:txid2:t1e") },
	{ "allowConnection: key non-fc address",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address9:10.66.0.925:public"
		"KeyOfAuthorizedNode54:rp281rv3psppbbqr1n30wrk9rpy83rxkmkcfzzbx3zp9d2p5uv"
		"41.ke6:cookie10:17532300564:hash64:1dd4a4a43a1543b6b23533c1d79efba9ef537"
		"2bb1e7b882d9e53ca3c935e697c1:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d0000005:error28:not a valid cjdns public key4:txid2:t1e") },
	{ "allowConnection: key with trailing garbage",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address10:10.66.0.9925:publ"
		"icKeyOfAuthorizedNode61:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p"
		"4xz0.kGARBAGEe6:cookie10:17532300564:hash64:9525de5101fd5576cf968227d541"
		"d11656133172d257cb14018e8622244cc3811:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000000010:connectioni1e5:error4:none4:txid2:t1e") },
	{ "allowConnection: ip4Prefix 33",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address9:10.66.0.99:ip4Pref"
		"ixi33e25:publicKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80"
		"s48k044fr9z2p4xz0.ke6:cookie10:17532300564:hash64:1bf5610e9b5b589abcc51d"
		"ed48697764f780aabab2fcf1e1ee43de2dacac82111:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d0005:error39:ip4Prefix out of range: must be 0 to 324:txid2:t1e") },
	{ "allowConnection: ip4Prefix -1",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address9:10.66.0.99:ip4Pref"
		"ixi-1e25:publicKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80"
		"s48k044fr9z2p4xz0.ke6:cookie10:17532300564:hash64:0beec49ce4ad5d70f68ca6"
		"d74f14e9ce534040462def98fae6c548d8f853fa661:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d0005:error39:ip4Prefix out of range: must be 0 to 324:txid2:t1e") },
	{ "allowConnection: ip4Alloc 0",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address9:10.66.0.98:ip4Allo"
		"ci0e25:publicKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s4"
		"8k044fr9z2p4xz0.ke6:cookie10:17532300564:hash64:1e55cb24ccc1d3541d4b3c7c"
		"6f36bfb53165b45ae3bd9ecf9b6ba8459e87eee81:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d00005:error38:ip4Alloc out of range: must be 1 to 324:txid2:t1e") },
	{ "allowConnection: ip4Alloc 33",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address9:10.66.0.98:ip4Allo"
		"ci33e25:publicKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s"
		"48k044fr9z2p4xz0.ke6:cookie10:17532300564:hash64:176374ea7e6098f9a725335"
		"df5edd063b7ee3247a5160c05efe75cd13b5aab7d1:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d00005:error38:ip4Alloc out of range: must be 1 to 324:txid2:t1e") },
	{ "allowConnection: ip4Prefix without ip4Address",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd9:ip4Prefixi0e10:ip6Address7:fd66"
		"::925:publicKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48"
		"k044fr9z2p4xz0.ke6:cookie10:17532300564:hash64:b687b0a4fe386adb8a8dffd2c"
		"10d37fdc4b3b40eadefe4ebe43cd62786ae1a1f1:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d00005:error38:Must specify ip4Address with ip4Prefix4:txid2:t1e") },
	{ "allowConnection: ip6Prefix 129",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip6Address7:fd66::99:ip6Prefix"
		"i129e25:publicKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s"
		"48k044fr9z2p4xz0.ke6:cookie10:17532300564:hash64:1f665e3347ae1dd0a016c12"
		"83fae60c0b3c323ba5ce000842fbdaec717ea78251:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d005:error40:ip6Prefix out of range: must be 0 to 1284:txid2:t1e") },
	{ "allowConnection: ip6Alloc 0",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip6Address7:fd66::98:ip6Alloci"
		"0e25:publicKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k"
		"044fr9z2p4xz0.ke6:cookie10:17532300564:hash64:35d155b0785dc7382f48843806"
		"76a112f8777866451e916f2d084fa85ba5ada51:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d0005:error39:ip6Alloc out of range: must be 1 to 1284:txid2:t1e") },
	{ "allowConnection: malformed ip4Address",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address7:10.66.025:publicKe"
		"yOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz0"
		".ke6:cookie10:17532300564:hash64:fbbd353aab43c885ed667e26bfb045eb016cdac"
		"a0d86ad4ef8b33be8749522741:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d0000005:error20:malformed ip4Address4:txid2:t1e") },
	{ "allowConnection: ip4Address with /24",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address12:10.66.0.9/2425:pu"
		"blicKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z"
		"2p4xz0.ke6:cookie10:17532300564:hash64:bd5bc5e9651042516f1c03671599f4d90"
		"5839ff1c917481ebafb73c1cf288ebf1:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000000010:connectioni2e5:error4:none4:txid2:t1e") },
	{ "allowConnection: ip4Address with :port",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address12:10.66.0.9:8025:pu"
		"blicKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z"
		"2p4xz0.ke6:cookie10:17532300564:hash64:c2ef1d654bc72988ba2a89225d0584b5e"
		"d24715d4ed733c4dfea9e862ccf47931:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000000010:connectioni3e5:error4:none4:txid2:t1e") },
	{ "allowConnection: ip6 in ip4Address",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address7:fd66::925:publicKe"
		"yOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz0"
		".ke6:cookie10:17532300564:hash64:15ddd8e9dcfff2bc22793b9d1b467a4448aa4cc"
		"df590292c0edd5f7f0dfaf2891:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d0000005:error20:malformed ip4Address4:txid2:t1e") },
	{ "allowConnection: ip4 in ip6Address",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip6Address9:10.66.0.925:public"
		"KeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4x"
		"z0.ke6:cookie10:17532300564:hash64:a25b7ea8a25c538c8095ae3d3923e08b38ab6"
		"a697960ee35b77b3edad990257d1:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d0000005:error20:malformed ip6Address4:txid2:t1e") },
	{ "allowConnection: ip6Address bracketed",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip6Address9:[fd66::9]25:public"
		"KeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4x"
		"z0.ke6:cookie10:17532300564:hash64:850ad4d1ae435d726bf7d916380df2169e88a"
		"728e24569bf4d8b9177667a9cb51:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000000010:connectioni4e5:error4:none4:txid2:t1e") },
	{ "allowConnection: ip4Prefix given as STRING '0'",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address10:10.66.0.109:ip4Pr"
		"efix1:025:publicKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb8"
		"0s48k044fr9z2p4xz0.ke6:cookie10:17532300564:hash64:dc933189ad2d52e0faf71"
		"d6f4346676c556b198273921a9e8800779d4301903f1:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000000010:connectioni5e5:error4:none4:txid2:t1e") },
	{ "allowConnection: unknown extra arg",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd5:bogusi1e10:ip4Address10:10.66.0"
		".1125:publicKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48"
		"k044fr9z2p4xz0.ke6:cookie10:17532300564:hash64:f0d8e68e64692a865c83f4911"
		"d3406ea4882edb8ecb63f9bbf8b584413acbf181:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000000010:connectioni6e5:error4:none4:txid2:t1e") },
	{ "allowConnection dup #1",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address10:10.66.0.5025:publ"
		"icKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p"
		"4xz0.ke6:cookie10:17532300564:hash64:3482cbfea379f0357e7779e6569e0468f6a"
		"666636af2b5a709a433f431f8d7551:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000000010:connectioni7e5:error4:none4:txid2:t1e") },
	{ "allowConnection dup #2 (same key, same ip)",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address10:10.66.0.5025:publ"
		"icKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p"
		"4xz0.ke6:cookie10:17532300564:hash64:3482cbfea379f0357e7779e6569e0468f6a"
		"666636af2b5a709a433f431f8d7551:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000000010:connectioni8e5:error4:none4:txid2:t1e") },
	{ "allowConnection dup #3 (same key, other ip)",
		CAP_BYTES("d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address10:10.66.0.5125:publ"
		"icKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p"
		"4xz0.ke6:cookie10:17532300564:hash64:63c8bc30ffccd046ccb9fb99d91b3d1d11a"
		"ef4b34bff5a673f34e7241a6ce7b31:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000000010:connectioni9e5:error4:none4:txid2:t1e") },
	{ "listConnections",
		CAP_BYTES("d2:aq24:IpTunnel_listConnections4:argsde6:cookie10:17532300564:hash64:a2"
		"db7ccb4e0317a348a7f512241d32083ec35a7e546776b9e280ca396830bb251:q4:auth4"
		":txid2:t1e"),
		true,
		CAP_BYTES("d011:connectionsli1ei2ei3ei4ei5ei6ei7ei8ei9ei0ee5:error4:none4:txid2:t1e") },
	{ "showConnection (dup #2)",
		CAP_BYTES("d2:aq23:IpTunnel_showConnection4:argsd10:connectioni8ee6:cookie10:175323"
		"00564:hash64:f6e66524d18b4abe941896b562348e7af926ab90d05a19e68c22cc2f1db"
		"ba16f1:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000005:error4:none10:ip4Address10:10.66.0.508:ip4Alloci32e9:ip4Prefixi3"
		"2e3:key54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz0.k8:outgoi"
		"ngi0e4:txid2:t1e") },
	{ "showConnection 99999",
		CAP_BYTES("d2:aq23:IpTunnel_showConnection4:argsd10:connectioni99999ee6:cookie10:17"
		"532300564:hash64:33ea9639210409e0547548355418d5687d4a90d06d86228b8b5b8d4"
		"c03378d7b1:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d0000005:error20:connection not found4:txid2:t1e") },
	{ "showConnection connection as string",
		CAP_BYTES("d2:aq23:IpTunnel_showConnection4:argsd10:connection1:0e6:cookie10:175323"
		"00564:hash64:b4dc1f570fecacf7d4aa8b83dded4b2c0031174318f114da244f285b780"
		"d08a81:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d005:error56:Entry [connection] is required and must be of type [Int]4:t"
		"xid2:t1e") },
	{ "showConnection without connection",
		CAP_BYTES("d2:aq23:IpTunnel_showConnection4:argsde6:cookie10:17532300564:hash64:42e"
		"97ab11577d050a5aadf0d44778443df975263d68386ff3467682f0cd80aee1:q4:auth4:"
		"txid2:t1e"),
		true,
		CAP_BYTES("d005:error56:Entry [connection] is required and must be of type [Int]4:t"
		"xid2:t1e") },
	{ "removeConnection 99999",
		CAP_BYTES("d2:aq25:IpTunnel_removeConnection4:argsd10:connectioni99999ee6:cookie10:"
		"17532300564:hash64:1695c8f1e267c65cb6d24c882003a1e6f080cd24b04773fc36247"
		"81a18e274151:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d005:error9:not_found4:txid2:t1e") },
	{ "removeConnection 7",
		CAP_BYTES("d2:aq25:IpTunnel_removeConnection4:argsd10:connectioni7ee6:cookie10:1753"
		"2300564:hash64:9d8e64c685b6efdca7e95c0125d5e066ecfe73e6654d93579bc6a9600"
		"fcd60201:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000000010:connectioni7e5:error4:none4:txid2:t1e") },
	{ "removeConnection 8",
		CAP_BYTES("d2:aq25:IpTunnel_removeConnection4:argsd10:connectioni8ee6:cookie10:1753"
		"2300564:hash64:73c11353cd10025e8c4f696bd67b53f70747ae2915ca6cd5e0acb127c"
		"62c55db1:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000000010:connectioni8e5:error4:none4:txid2:t1e") },
	{ "removeConnection 9",
		CAP_BYTES("d2:aq25:IpTunnel_removeConnection4:argsd10:connectioni9ee6:cookie10:1753"
		"2300564:hash64:1814572da30fc9d62c0e85fc126082efc190e6ba294dea57c16483b6b"
		"032a74a1:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d000000010:connectioni9e5:error4:none4:txid2:t1e") },
	{ "removeConnection again (already removed)",
		CAP_BYTES("d2:aq25:IpTunnel_removeConnection4:argsd10:connectioni7ee6:cookie10:1753"
		"2300564:hash64:9d8e64c685b6efdca7e95c0125d5e066ecfe73e6654d93579bc6a9600"
		"fcd60201:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d005:error9:not_found4:txid2:t1e") },
	{ "connectTo bad key",
		CAP_BYTES("d2:aq18:IpTunnel_connectTo4:argsd26:publicKeyOfNodeToConnectTo5:abc.ke6:"
		"cookie10:17532300564:hash64:e71213f825f836943f2e6933e768526ca7af4620c0bc"
		"b7d9a1637a9380df71d61:q4:auth4:txid2:t1e"),
		true,
		CAP_BYTES("d00005:error30:key must be 52 characters long4:txid2:t1e") },
	{ "connectTo missing arg",
		CAP_BYTES("d2:aq18:IpTunnel_connectTo4:argsde6:cookie10:17532300564:hash64:e684da9e"
		"70d1729ccd7a400c2360f548ffe23a4d884584f04acb80768ac1f07f1:q4:auth4:txid2"
		":t1e"),
		true,
		CAP_BYTES("d00000005:error75:Entry [publicKeyOfNodeToConnectTo] is required and mus"
		"t be of type [String]4:txid2:t1e") },
	{ "listConnections (final)",
		CAP_BYTES("d2:aq24:IpTunnel_listConnections4:argsde6:cookie10:17532300564:hash64:a2"
		"db7ccb4e0317a348a7f512241d32083ec35a7e546776b9e280ca396830bb251:q4:auth4"
		":txid2:t1e"),
		true,
		CAP_BYTES("d0011:connectionsli1ei2ei3ei4ei5ei6ei0ee5:error4:none4:txid2:t1e") },
};

#define N_CAPTURES (sizeof(captures) / sizeof(captures[0]))

#endif
