# tether: RouterOS configuration for site "hub", RouterOS 7.20.8
# Items tether owns carry comment="tether: …"; tether never touches other items.
# WireGuard private keys are generated on the router and stay there: none are in this file.
# warning: firewall /ip/firewall/nat "masq to wg0": /ip/firewall/nat has no connection-state; not rendered
# warning: router_advertisement on bridge: RouterOS /ipv6/nd sends no route information options; routes and route_preference are not rendered
# warning: router_advertisement on bridge: RouterOS advertises prefixes of addresses with advertise=yes; fd00:61::/64 has no such address on bridge
/routing table
add name=vpn fib comment=tether
/interface wireguard
add name=wg0 listen-port=51820 mtu=1420 comment="tether: road warriors"
add name=wg-spoke listen-port=51821 mtu=1380 comment=tether
/interface list
add name=TRUSTED comment=tether
add name=TUNNELS comment=tether
/interface list member
add list=TRUSTED interface=bridge comment=tether
add list=TUNNELS interface=wg0 comment=tether
/ip address
add address=10.50.0.1/24 interface=wg0 comment="tether: road warriors"
add address=10.255.1.1/30 interface=wg-spoke comment="tether: link hub-spoke"
add address=192.168.60.1/24 interface=bridge comment="tether: LAN v4"
/ipv6 address
add address=fd00:50::1/64 interface=wg0 advertise=no comment="tether: road warriors"
add address=fd00:60::1/64 interface=bridge advertise=yes comment="tether: LAN ULA"
/ip firewall address-list
add list=mgmt address=192.168.60.10 comment="tether: admin host"
add list=bgp-networks-spoke address=10.60.0.0/16 comment="tether: BGP networks to spoke"
/ipv6 firewall address-list
add list=mgmt address=fd00:60::10/128 comment=tether
/routing filter rule
add chain=bgp-in-spoke rule="if (dst == 10.61.0.0/16) { accept } if (dst in 10.0.0.0/8 && dst-len in 16-24) { accept } reject" comment="tether: BGP import from spoke"
add chain=bgp-out-spoke rule="if (dst == 10.60.0.0/16) { accept } if (dst == 0.0.0.0/0) { accept } reject" comment="tether: BGP export to spoke"
/routing bgp instance
add name=hub-bgp as=64600 router-id=10.255.0.1 comment=tether
/routing bgp template
add name=tpl-spoke as=64600 output.default-originate=always hold-time=1m30s comment="tether: link hub-spoke"
/routing bgp connection
add name=spoke instance=hub-bgp remote.address=10.255.1.2 remote.as=64601 local.address=10.255.1.1 local.role=ebgp templates=tpl-spoke afi=ip input.filter=bgp-in-spoke output.filter-chain=bgp-out-spoke output.network=bgp-networks-spoke comment="tether: link hub-spoke"
/interface wireguard peers
add interface=wg-spoke name=spoke public-key="m6qbHWDEL3vfiOmWjmSL5pGQBJil8OQrXksB/hp3a08=" allowed-address=10.255.1.2/32,10.61.0.0/16,10.0.0.0/8 persistent-keepalive=15s comment="tether: IPv4 eBGP between hub and spoke"
add interface=wg0 name=cloud public-key="aNZg+Z3eKW2+GQjTD50Yg54J/T2wwTigFxlOgICoDbI=" allowed-address=10.50.0.9/32,10.70.0.0/24,fd00:70::/48 endpoint-address=2001:db8:77::1 endpoint-port=51820 persistent-keepalive=1m30s comment="tether: a server with a routed subnet"
add interface=wg0 name=phone public-key="RdR/a8GaSUdUYADlGtRtmO0AS+cRyKFYWfXrQJybAVI=" allowed-address=10.50.0.2/32,fd00:50::2/128 comment="tether: phone"
/ip route
add dst-address=0.0.0.0/0 gateway=10.50.0.9 distance=5 routing-table=vpn comment="tether: vpn default"
add dst-address=10.60.0.0/16 blackhole distance=254 routing-table=main comment="tether: aggregate"
add dst-address=10.70.0.0/24 gateway=wg0 routing-table=main comment="tether: allowed-address of peer cloud"
/ipv6 route
add dst-address=fd00:70::/48 gateway=wg0 routing-table=main comment="tether: allowed-address of peer cloud"
/routing rule
add src-address=192.168.60.128/25 action=lookup-only-in-table table=vpn comment="tether: guests via vpn"
add dst-address=10.99.0.0/16 action=unreachable comment=tether
/ip firewall filter
add chain=input action=accept protocol=udp dst-port=51820,51821 in-interface-list=WAN comment="tether: WireGuard in" place-before=[find where chain=input and comment="defconf: drop all not coming from LAN"]
add chain=input action=accept src-address-list=mgmt in-interface-list=TUNNELS comment="tether: mgmt from tunnels" place-before=[find where chain=input and comment="defconf: drop all not coming from LAN"]
add chain=forward action=reject protocol=tcp src-port=1024-65535 dst-port=25 out-interface=ether1 connection-state=new connection-nat-state=!dstnat reject-with=icmp-admin-prohibited log=yes log-prefix=smtp-out comment="tether: no smtp out" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=drop comment="tether: final policy: drop forward"
/ipv6 firewall filter
add chain=input action=accept protocol=udp dst-port=51820,51821 in-interface-list=WAN comment="tether: WireGuard in" place-before=[find where chain=input and comment="defconf: drop everything else not coming from LAN"]
add chain=input action=accept src-address-list=mgmt in-interface-list=TUNNELS comment="tether: mgmt from tunnels" place-before=[find where chain=input and comment="defconf: drop everything else not coming from LAN"]
add chain=input action=accept protocol=icmpv6 icmp-options=128:0-255 comment="tether: some icmpv6 (echo-request)" place-before=[find where chain=input and comment="defconf: drop everything else not coming from LAN"]
add chain=input action=accept protocol=icmpv6 icmp-options=135:0-255 comment="tether: some icmpv6 (nd-neighbor-solicit)" place-before=[find where chain=input and comment="defconf: drop everything else not coming from LAN"]
add chain=forward action=reject dst-address=fd00:60::/64 in-interface=!bridge out-interface-list=LAN reject-with=icmp-admin-prohibited disabled=yes comment="tether: closed lan" place-before=[find where chain=forward and comment="defconf: drop everything else not coming from LAN"]
add chain=forward action=drop comment="tether: final policy: drop forward"
/ip firewall nat
add chain=dstnat action=dst-nat protocol=tcp dst-port=8443 in-interface-list=WAN to-addresses=192.168.60.10 to-ports=443 comment="tether: https to admin host"
add chain=srcnat action=masquerade out-interface=wg0 comment="tether: masq to wg0"
/ipv6 firewall nat
add chain=srcnat action=src-nat src-address=fd00:60::/64 out-interface=ether1 to-address=2001:db8:60::/64 comment="tether: npt-ish"
/ip firewall mangle
add chain=prerouting action=mark-routing src-address=192.168.60.128/25 dst-address-list=!mgmt new-routing-mark=vpn passthrough=no comment="tether: guests to vpn"
/ipv6 nd
add interface=bridge ra-interval=30s-1m30s ra-lifetime=30m reachable-time=30s advertise-dns=yes dns=fd00:60::1 comment=tether
/ip dns set servers=9.9.9.9,2620:fe::fe allow-remote-requests=yes cache-size=4096
/ip service
set telnet disabled=yes
set www-ssl port=8443
set api-ssl address=192.168.88.0/24,fd00::/8
/ip settings set tcp-syncookies=yes
/ip firewall raw
add action=notrack chain=prerouting dst-port=51820 protocol=udp comment="tether: raw notrack-wg"
