package importer_test

import (
	"fmt"
	"testing"

	"github.com/tether-net/tether/agent/importer"
	"github.com/tether-net/tether/test/rossim"
)

// syntheticRows is a large hand-made router as rows: n firewall rules,
// addresses, routes and WireGuard peers with unknown keys.
func syntheticRows(n int) importer.Rows {
	rows := importer.Rows{
		"/system/resource":     {{"version": "7.22.3 (stable)"}},
		"/ip/dns":              {{"servers": "9.9.9.9", "allow-remote-requests": "false"}},
		"/interface/wireguard": {{".id": "*1", "name": "wg0", "listen-port": "51820", "mtu": "1420"}},
	}
	for i := range n {
		id := fmt.Sprintf("*%X", i+16)
		rows["/ip/firewall/filter"] = append(rows["/ip/firewall/filter"], map[string]string{".id": id, "chain": "forward",
			"action": "accept", "protocol": "tcp", "dst-port": fmt.Sprint(1000 + i), "log": "false", "comment": fmt.Sprintf("rule %d", i)})
		rows["/ip/address"] = append(rows["/ip/address"], map[string]string{".id": id, "address": fmt.Sprintf("10.%d.%d.1/24", i/256, i%256),
			"interface": "ether2", "network": fmt.Sprintf("10.%d.%d.0", i/256, i%256)})
		rows["/ip/route"] = append(rows["/ip/route"], map[string]string{".id": id, "dst-address": fmt.Sprintf("172.%d.%d.0/24", 16+i/256, i%256),
			"gateway": "10.0.0.254", "distance": "1", "routing-table": "main"})
		_, pub := rossim.KeyPair(fmt.Sprint("peer", i))
		rows["/interface/wireguard/peers"] = append(rows["/interface/wireguard/peers"], map[string]string{".id": id, "interface": "wg0",
			"name": fmt.Sprint("peer", i), "public-key": pub, "allowed-address": fmt.Sprintf("100.64.%d.%d/32", i/256, i%256)})
	}
	return rows
}

// BenchmarkImportRouterOS converts a router with 200 of each item (rules,
// addresses, routes, peers) into validated files.
func BenchmarkImportRouterOS(b *testing.B) {
	rows := syntheticRows(200)
	b.ReportAllocs()
	for b.Loop() {
		res, err := importer.RouterOS(importer.Input{Site: "big", Rows: rows})
		if err != nil || res.Problems != nil {
			b.Fatal(err, res.Problems)
		}
	}
}
