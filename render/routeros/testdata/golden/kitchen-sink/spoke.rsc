# tether: RouterOS configuration for site "spoke", RouterOS 7.18
# Items tether owns carry comment="tether: …"; tether never touches other items.
# WireGuard private keys are generated on the router and stay there: none are in this file.
# warning: bgp hub: RouterOS announces an output.network prefix only while a route for it is active; 10.61.0.0/16 has no static route here (declare a blackhole route with a high distance)
/interface wireguard
add name=wg-hub listen-port=51821 mtu=1380 comment=tether
/interface list
add name=WAN comment=tether
/interface list member
add list=WAN interface=ether1 comment=tether
/ip address
add address=10.255.1.2/30 interface=wg-hub comment="tether: link hub-spoke"
/ip firewall address-list
add list=bgp-networks-hub address=10.61.0.0/16 comment="tether: BGP networks to hub"
/routing filter rule
add chain=bgp-in-hub rule="if (dst in 10.60.0.0/16 && dst-len in 16-32) { accept } if (dst == 0.0.0.0/0) { accept } reject" comment="tether: BGP import from hub"
add chain=bgp-out-hub rule="if (dst == 10.61.0.0/16) { accept } reject" comment="tether: BGP export to hub"
/routing bgp template
add name=tpl-hub as=64601 comment="tether: link hub-spoke"
/routing bgp connection
add name=hub as=64601 router-id=10.255.0.2 remote.address=10.255.1.1 remote.as=64600 local.address=10.255.1.2 local.role=ebgp templates=tpl-hub address-families=ip input.filter=bgp-in-hub output.filter-chain=bgp-out-hub output.network=bgp-networks-hub comment="tether: link hub-spoke"
/interface wireguard peers
add interface=wg-hub name=hub public-key="GVyiasNYGFIOQS4FukNa1afcjrug8zfTyZw4LsmwetE=" allowed-address=10.255.1.1/32,10.60.0.0/16 endpoint-address=203.0.113.50 endpoint-port=51821 persistent-keepalive=15s comment="tether: IPv4 eBGP between hub and spoke"
/ip firewall filter
add chain=input action=accept connection-state=established,related comment="tether: established"
add chain=input action=accept protocol=tcp src-address=10.255.0.100/32 dst-port=8729 comment="tether: tether agent API"
add chain=input action=drop in-interface-list=WAN comment="tether: drop wan"
add chain=input action=drop comment="tether: final policy: drop input"
/ipv6 firewall filter
add chain=input action=accept connection-state=established,related comment="tether: established"
add chain=input action=drop in-interface-list=WAN comment="tether: drop wan"
add chain=input action=drop comment="tether: final policy: drop input"
