# tether: RouterOS configuration for site "relay", RouterOS 7.22.3
# Items tether owns carry comment="tether: …"; tether never touches other items.
# WireGuard private keys are generated on the router and stay there: none are in this file.
/interface wireguard
add name=wg-vps listen-port=51820 mtu=1420 comment=tether
/ip address
add address=203.0.113.10/24 interface=ether1 comment="tether: provider-wan"
/ipv6 address
add address=2001:db8:100::1/64 interface=wg-vps advertise=no comment="tether: link relay-home"
add address=2001:db8:ffff:1e6::2/126 interface=ether1 advertise=no comment="tether: provider-wan-v6"
add address=2001:db8:100::a/128 interface=ether1 advertise=no comment="tether: routed-prefix-anchor"
/routing filter rule
add chain=bgp-in-home rule="if (dst == 2001:db8:100::/48) { accept } reject" comment="tether: BGP import from home"
add chain=bgp-out-home rule="if (dst == ::/0) { accept } reject" comment="tether: BGP export to home"
/routing bgp instance
add name=chr-vps as=64512 router-id=203.0.113.10 comment=tether
/routing bgp template
add name=tpl-home as=64512 output.default-originate=always comment="tether: link relay-home"
/routing bgp connection
add name=home instance=chr-vps remote.address=2001:db8:100::2 remote.as=64513 local.address=2001:db8:100::1 local.role=ebgp templates=tpl-home afi=ipv6 input.filter=bgp-in-home output.filter-chain=bgp-out-home comment="tether: link relay-home"
/interface wireguard peers
add interface=wg-vps name=home public-key="hOGK4v4TBnWUCGEriU1Bg2Fbrxh77Mk0dGhMWbL2XDo=" allowed-address=2001:db8:100::2/128,2001:db8:100::/48 persistent-keepalive=25s comment="tether: WireGuard transit and eBGP between the CHR relay and home"
/ip route
add dst-address=0.0.0.0/0 gateway=203.0.113.1 routing-table=main comment="tether: provider-ipv4-default"
/ipv6 route
add dst-address=2001:db8:ffff:1e6::1/128 gateway=ether1 routing-table=main comment="tether: provider-gw6-onlink"
add dst-address=::/0 gateway=2001:db8:ffff:1e6::1 routing-table=main comment="tether: provider-ipv6-default"
/ipv6 firewall filter
add chain=input action=accept connection-state=established,related comment="tether: established"
add chain=input action=drop connection-state=invalid comment="tether: invalid"
add chain=input action=accept protocol=icmpv6 comment="tether: icmpv6"
add chain=input action=accept protocol=tcp dst-port=179 in-interface=wg-vps comment="tether: BGP from home"
add chain=input action=drop in-interface=ether1 comment="tether: drop WAN input"
add chain=forward action=accept connection-state=established,related comment="tether: forward-established"
add chain=forward action=drop connection-state=invalid comment="tether: forward-invalid"
add chain=forward action=accept in-interface=wg-vps out-interface=ether1 comment="tether: LAN to internet"
add chain=forward action=accept in-interface=ether1 out-interface=wg-vps comment="tether: internet return to LAN"
add chain=forward action=drop comment="tether: drop other forwarded IPv6"
/ip dns set servers=1.1.1.1,8.8.8.8 allow-remote-requests=no
/ip service
set ssh disabled=no port=22 address=0.0.0.0/0
/ip ssh set password-authentication=no
