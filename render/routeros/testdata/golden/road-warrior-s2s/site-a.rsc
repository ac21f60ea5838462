# tether: RouterOS configuration for site "site-a", RouterOS 7.22.3
# Items tether owns carry comment="tether: …"; tether never touches other items.
# WireGuard private keys are generated on the router and stay there: none are in this file.
/interface wireguard
add name=wg-remote listen-port=51820 mtu=1412 comment="tether: WG remote pool gateway"
add name=wg-site listen-port=51821 mtu=1412 comment="tether: site-to-site to site B"
/ip address
add address=10.200.200.1/24 interface=wg-remote comment="tether: WG remote pool gateway"
add address=10.200.201.1/30 interface=wg-site comment="tether: link site-a-site-b"
/interface wireguard peers
add interface=wg-site name=site-b public-key="pJzMXNrBOJ9P4yHlCKKvGH0lD6IZGII/EGKf+OSDOGw=" allowed-address=10.200.201.2/32,172.16.0.0/24 endpoint-address=198.51.100.30 endpoint-port=51821 persistent-keepalive=25s comment="tether: Site-to-site tunnel between site A (primary) and site B (secondary)"
add interface=wg-remote name=laptop-thinkpad public-key="t7Kt75iJ/d6MU3pKKBPVXjoZBF0/5gSkw62l6viTrg4=" allowed-address=10.200.200.3/32 comment="tether: Laptop - ThinkPad"
add interface=wg-remote name=phone-pixel-9 public-key="CFUXhixpKpH3diSUvrGv8FHX2cBpLcrBCZi+LK4ZqzA=" allowed-address=10.200.200.2/32 comment="tether: Phone - Pixel 9"
add interface=wg-remote name=tablet-ipad public-key="dp8mxkqKIRJm3BUh3wqSnFQmHzLliaD0Y7KTysTXTiU=" allowed-address=10.200.200.4/32 comment="tether: Tablet - iPad"
/ip route
add dst-address=172.16.0.0/24 gateway=wg-site routing-table=main comment="tether: allowed-address of peer site-b"
/ip firewall filter
add chain=input action=accept protocol=udp dst-port=51820 in-interface-list=WAN comment="tether: Allow WireGuard UDP" place-before=[find where chain=input and comment="defconf: drop all not coming from LAN"]
add chain=input action=accept protocol=udp dst-port=51821 in-interface-list=WAN comment="tether: Allow WG site-to-site" place-before=[find where chain=input and comment="defconf: drop all not coming from LAN"]
add chain=forward action=accept src-address=10.200.200.0/24 dst-address=10.0.10.0/24 comment="tether: WG to HOME" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=accept src-address=10.200.200.0/24 dst-address=10.0.20.0/24 comment="tether: WG to LAB" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=accept src-address=10.200.200.0/24 dst-address=10.0.50.0/24 comment="tether: WG to CCTV" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=accept src-address=172.16.0.0/24 dst-address=10.0.0.0/16 in-interface=wg-site out-interface=bridge-trunk comment="tether: Allow Site B to Site A LAN" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=accept src-address=10.0.0.0/16 dst-address=172.16.0.0/24 in-interface=bridge-trunk out-interface=wg-site comment="tether: Allow Site A LAN to Site B" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=accept in-interface=bridge-trunk out-interface-list=WAN comment="tether: LAN to internet" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=accept src-address=10.200.200.0/24 out-interface-list=WAN comment="tether: WG full tunnel to internet" place-before=[find where chain=forward and comment="defconf: drop all from WAN not DSTNATed"]
add chain=forward action=drop comment="tether: final policy: drop forward"
/ipv6 firewall filter
add chain=forward action=accept in-interface=bridge-trunk out-interface-list=WAN comment="tether: LAN to internet" place-before=[find where chain=forward and comment="defconf: drop everything else not coming from LAN"]
add chain=forward action=drop comment="tether: final policy: drop forward"
/ip firewall nat
add chain=srcnat action=masquerade src-address=10.200.200.0/24 dst-address=10.0.0.0/16 comment="tether: NAT remote WG clients to LAN"
/system logging
add topics=wireguard,info action=memory comment="tether: log wireguard,info to memory"
