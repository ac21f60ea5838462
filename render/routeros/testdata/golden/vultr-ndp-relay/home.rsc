# tether: RouterOS configuration for site "home", RouterOS 7.20.8
# Items tether owns carry comment="tether: …"; tether never touches other items.
# WireGuard private keys are generated on the router and stay there: none are in this file.
/interface wireguard
add name=wg-cloud listen-port=13231 mtu=1420 comment="tether: WireGuard to the Vultr relay"
/ipv6 address
add address=fd99:9999:9999::2/64 interface=wg-cloud advertise=no comment="tether: link vultr-home"
add address=2001:db8:1:1::1/64 interface=bridge advertise=yes comment="tether: reserved /64 from Vultr"
/interface wireguard peers
add interface=wg-cloud name=vultr public-key="RXSlcVkVSWuwTC57VIxluWvZXb2402Bf2sYo66TOWyY=" allowed-address=::/0 endpoint-address=203.0.113.10 endpoint-port=51820 persistent-keepalive=25s comment="tether: IPv6-only WireGuard transit from the Vultr relay to the home MikroTik"
/ipv6 route
add dst-address=::/0 gateway=fd99:9999:9999::1 routing-table=main comment="tether: IPv6 default via the Vultr relay"
/ipv6 firewall filter
add chain=input action=accept in-interface=wg-cloud comment="tether: accept input from cloud peer (WG)" place-before=[find where chain=input and comment="defconf: drop everything else not coming from LAN"]
add chain=forward action=accept in-interface=wg-cloud out-interface-list=LAN disabled=yes comment="tether: accept new inbound from internet to LAN" place-before=[find where chain=forward and comment="defconf: drop everything else not coming from LAN"]
