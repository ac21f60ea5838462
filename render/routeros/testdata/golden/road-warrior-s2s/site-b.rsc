# tether: RouterOS configuration for site "site-b", RouterOS 7.18
# Items tether owns carry comment="tether: …"; tether never touches other items.
# WireGuard private keys are generated on the router and stay there: none are in this file.
/interface wireguard
add name=wg-site listen-port=51821 mtu=1412 comment="tether: site-to-site to site A"
/ip address
add address=10.200.201.2/30 interface=wg-site comment="tether: link site-a-site-b"
/interface wireguard peers
add interface=wg-site name=site-a public-key="ur51sBtszB6YAcGBl4RBq5GmZiuB2Ek4+H4XjywWI0k=" allowed-address=10.200.201.1/32,10.0.0.0/16 endpoint-address=203.0.113.20 endpoint-port=51821 persistent-keepalive=25s comment="tether: Site-to-site tunnel between site A (primary) and site B (secondary)"
/ip route
add dst-address=10.0.0.0/16 gateway=wg-site routing-table=main comment="tether: allowed-address of peer site-a"
/ip firewall filter
add chain=input action=accept protocol=udp dst-port=51821 in-interface-list=WAN comment="tether: Allow WG site-to-site" place-before=[find where chain=input and comment="defconf: drop all not coming from LAN"]
add chain=forward action=accept src-address=10.0.0.0/16 dst-address=172.16.0.0/24 in-interface=wg-site out-interface=bridge comment="tether: Allow Site A to Site B LAN" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=accept src-address=172.16.0.0/24 dst-address=10.0.0.0/16 in-interface=bridge out-interface=wg-site comment="tether: Allow Site B LAN to Site A" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=accept in-interface=bridge out-interface-list=WAN comment="tether: LAN to internet" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=drop comment="tether: final policy: drop forward"
/ipv6 firewall filter
add chain=forward action=accept in-interface=bridge out-interface-list=WAN comment="tether: LAN to internet" place-before=[find where chain=forward and comment="defconf: drop everything else not coming from LAN"]
add chain=forward action=drop comment="tether: final policy: drop forward"
/ip dns set servers=1.1.1.1,8.8.8.8 allow-remote-requests=no
