# tether: RouterOS configuration for site "home", RouterOS 7.22.3
# Items tether owns carry comment="tether: …"; tether never touches other items.
# WireGuard private keys are generated on the router and stay there: none are in this file.
/interface wireguard
add name=wg-vps listen-port=51820 mtu=1420 comment=tether
/ipv6 address
add address=2001:db8:100::2/64 interface=wg-vps advertise=no comment="tether: link relay-home"
/ipv6 firewall address-list
add list=bgp-networks-chr-vps address=2001:db8:100::/48 comment="tether: BGP networks to chr-vps"
/routing filter rule
add chain=bgp-in-chr-vps rule="if (dst == ::/0) { accept } reject" comment="tether: BGP import from chr-vps"
add chain=bgp-out-chr-vps rule="if (dst == 2001:db8:100::/48) { accept } reject" comment="tether: BGP export to chr-vps"
/routing bgp instance
add name=default-bgp as=64513 router-id=192.168.88.1 comment=tether
/routing bgp template
add name=tpl-chr-vps as=64513 comment="tether: link relay-home"
/routing bgp connection
add name=chr-vps instance=default-bgp remote.address=2001:db8:100::1 remote.as=64512 local.address=2001:db8:100::2 local.role=ebgp templates=tpl-chr-vps afi=ipv6 input.filter=bgp-in-chr-vps output.filter-chain=bgp-out-chr-vps output.network=bgp-networks-chr-vps comment="tether: link relay-home"
/interface wireguard peers
add interface=wg-vps name=chr-vps public-key="sz6JvcsuN/cltmybD13kzwh4lfBUcvCwUW+KkUg2Al4=" allowed-address=::/0 endpoint-address=203.0.113.10 endpoint-port=51820 persistent-keepalive=25s comment="tether: WireGuard transit and eBGP between the CHR relay and home"
/ipv6 route
add dst-address=2001:db8:100::/48 blackhole distance=254 routing-table=main comment="tether: aggregate-for-bgp"
