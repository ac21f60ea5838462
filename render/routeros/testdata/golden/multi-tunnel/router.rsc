# tether: RouterOS configuration for site "router", RouterOS 7.22.3
# Items tether owns carry comment="tether: …"; tether never touches other items.
# WireGuard private keys are generated on the router and stay there: none are in this file.
/routing table
add name=vpn fib comment=tether
add name=exit-client-a fib comment="tether: exit via client-a"
/interface wireguard
add name=wg0 listen-port=13231 mtu=1420 comment="tether: VPN provider"
add name=wg1 listen-port=13232 mtu=1420 comment="tether: site-to-site mesh"
add name=wg-mesh listen-port=51820 mtu=1420 comment="tether: CGNAT client relay"
/ip address
add address=10.20.0.2/24 interface=wg1 comment="tether: site-to-site mesh"
add address=10.99.0.1/24 interface=wg-mesh comment="tether: link router-exit-node"
add address=10.8.0.2/32 interface=wg0 network=10.8.1.1 comment="tether: VPN provider tunnel address"
/ip firewall address-list
add list=noVPN address=192.168.1.0/24 comment="tether: Local LAN"
add list=noVPN address=10.20.0.0/24 comment="tether: wg1 destination"
add list=noVPN address=172.16.50.0/24 comment="tether: wg1 remote LAN"
add list=vpnDNS address=10.8.0.1 comment="tether: VPN provider DNS"
/interface wireguard peers
add interface=wg-mesh name=client-a public-key="GC3qCStqBl9c4buS+wMmA3unuVXCU46S5+hO8CW4UmE=" allowed-address=10.99.0.2/32,192.168.10.0/24,0.0.0.0/0 persistent-keepalive=25s comment="tether: CGNAT relay: client A (exit node) on the router's wg-mesh"
add interface=wg-mesh name=client-b public-key="R0o/WgReh0B5Qchiic4lXEY7XAMGP/IwdmhpOCAa8w4=" allowed-address=10.99.0.3/32 persistent-keepalive=25s comment="tether: Client B phone"
add interface=wg1 name=mesh-server2 public-key="v9hu2ToL1v7MlagH0tYwJeF8U6Kzcb/oNxCVDF2lv0k=" allowed-address=10.20.0.0/24,172.16.50.0/24 endpoint-address=server2.example.com endpoint-port=51820 persistent-keepalive=25s comment="tether: site-to-site mesh server2"
add interface=wg0 name=vpn-provider public-key="6eW+gSYjGD1Y0RWdD1hhPdfOT/W99Z4U8tSMp2N1ADs=" allowed-address=0.0.0.0/0 endpoint-address=server1.example.com endpoint-port=51820 persistent-keepalive=25s comment="tether: VPN provider server1"
/ip route
add dst-address=0.0.0.0/0 gateway=10.8.1.1 routing-table=vpn comment="tether: VPN default route"
add dst-address=192.168.10.0/24 gateway=wg-mesh routing-table=main comment="tether: allowed-address of peer client-a"
add dst-address=172.16.50.0/24 gateway=wg1 routing-table=main comment="tether: allowed-address of peer mesh-server2"
add dst-address=0.0.0.0/0 gateway=wg-mesh routing-table=exit-client-a comment="tether: exit via client-a"
/routing rule
add routing-mark=vpn action=lookup-only-in-table table=vpn comment="tether: marked traffic uses only the vpn table"
add src-address=10.99.0.3/32 action=lookup-only-in-table table=exit-client-a comment="tether: client-b exits via client-a"
/ip firewall filter
add chain=input action=accept protocol=udp dst-port=51820 in-interface-list=WAN comment="tether: Allow WG mesh relay UDP" place-before=[find where chain=input and comment="defconf: drop all not coming from LAN"]
add chain=forward action=drop in-interface=wg0 connection-state=new connection-nat-state=!dstnat comment="tether: Block unsolicited from WG0" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=accept out-interface=wg0 comment="tether: Allow WG0 outbound" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=accept in-interface=wg1 comment="tether: Allow WG1 inbound" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=accept out-interface=wg1 comment="tether: Allow WG1 outbound" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=accept in-interface=wg-mesh out-interface=wg-mesh comment="tether: Allow WG mesh relay" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
/ip firewall nat
add chain=srcnat action=masquerade out-interface=wg0 comment="tether: masquerade to VPN provider"
add chain=srcnat action=masquerade out-interface=wg1 comment="tether: masquerade to mesh"
/ip firewall mangle
add chain=prerouting action=mark-routing dst-address-list=!noVPN in-interface=bridge connection-nat-state=!dstnat new-routing-mark=vpn passthrough=no comment="tether: LAN to VPN unless noVPN"
add chain=output action=mark-routing protocol=udp dst-address-list=vpnDNS dst-port=53 new-routing-mark=vpn passthrough=no comment="tether: router DNS over UDP to the VPN"
add chain=output action=mark-routing protocol=tcp dst-address-list=vpnDNS dst-port=53 new-routing-mark=vpn passthrough=no comment="tether: router DNS over TCP to the VPN"
/ip dns set servers=10.8.0.1 allow-remote-requests=yes
