# tether: RouterOS configuration for site "home", RouterOS 7.22.3
# Items tether owns carry comment="tether: …"; tether never touches other items.
# WireGuard private keys are generated on the router and stay there: none are in this file.
/interface wireguard
add name=wg-vps listen-port=51820 mtu=1420 comment=tether
/ipv6 address
add address=2001:db8:300::2/64 interface=wg-vps advertise=no comment="tether: link relay-home"
/ipv6 firewall address-list
add list=bgp-networks-vps address=2001:db8:300::/48 comment="tether: BGP networks to vps"
/routing filter rule
add chain=bgp-in-vps rule="if (dst == ::/0) { accept } reject" comment="tether: BGP import from vps"
add chain=bgp-out-vps rule="if (dst == 2001:db8:300::/48) { accept } reject" comment="tether: BGP export to vps"
/routing bgp instance
add name=default-bgp as=64513 router-id=192.168.88.1 comment=tether
/routing bgp template
add name=tpl-vps as=64513 comment="tether: link relay-home"
/routing bgp connection
add name=vps instance=default-bgp remote.address=2001:db8:300::1 remote.as=64512 local.address=2001:db8:300::2 local.role=ebgp templates=tpl-vps afi=ipv6 input.filter=bgp-in-vps output.filter-chain=bgp-out-vps output.network=bgp-networks-vps comment="tether: link relay-home"
/interface wireguard peers
add interface=wg-vps name=vps public-key="T0mK0fRqGkhn1c7ODeVrP4dR3uX0n4Nw6C6Y0tJq9Xo=" allowed-address=::/0 endpoint-address=203.0.113.30 endpoint-port=51820 persistent-keepalive=25s comment="tether: WireGuard transit and eBGP between the Linux relay and home"
/ipv6 route
add dst-address=2001:db8:300::/48 blackhole distance=254 routing-table=main comment="tether: aggregate-for-bgp"
