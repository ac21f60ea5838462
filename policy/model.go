package policy

// The structs in this file are the TOML schema. Field tags are the keys a
// person writes; docs/config.md documents each one. Loading fills them from
// the files of a network folder and then validates them as a whole.

// Network is one network folder: network.toml plus sites/, links/ and peers/.
type Network struct {
	Name        string           `toml:"name"`
	Description string           `toml:"description"`
	Defaults    Defaults         `toml:"defaults"`
	Health      Health           `toml:"health"`
	Rollout     Rollout          `toml:"rollout"`
	Sites       map[string]*Site `toml:"-"`
	Links       map[string]*Link `toml:"-"`
	Peers       map[string]*Peer `toml:"-"`

	// File is where network.toml was read from, relative to the network root.
	File string `toml:"-"`

	// linksBySite indexes link names by site; Load builds it so per-site
	// views do not scan every link. Nil means "scan".
	linksBySite map[string][]string
}

// Defaults apply wherever a site, link or interface leaves a value unset.
type Defaults struct {
	MTU             int      `toml:"mtu"`              // WireGuard interface MTU (default 1420)
	Keepalive       Duration `toml:"keepalive"`        // persistent keepalive on dialing ends (default 25s)
	ListenPort      int      `toml:"listen_port"`      // WireGuard listen port (default 51820)
	ASNPool         string   `toml:"asn_pool"`         // "64512-65534": every ASN in the network must be inside
	RouterOSVersion string   `toml:"routeros_version"` // default for RouterOS sites
}

// Health settings for the gate; a site may override them.
type Health struct {
	HandshakeMaxAge Duration `toml:"handshake_max_age"` // a peer whose last handshake is older is down (180s)
	GateDeadline    Duration `toml:"gate_deadline"`     // how long a change has to become healthy (120s)
	StableWindow    Duration `toml:"stable_window"`     // all must-pass checks healthy together this long (10s)
	DeadmanMargin   Duration `toml:"deadman_margin"`    // device-side revert fires at deadline + margin (60s)
	PeerNoteWait    Duration `toml:"peer_note_wait"`    // how long to wait for the far end of a two-ended change (60s)
	// Fail-fast budgets of a one-ended change: a check healthy before the
	// change that fails this long fails the gate before the deadline; "0s"
	// turns it off for that kind.
	HandshakeBudget Duration `toml:"handshake_budget"` // WireGuard retries a handshake every 5s: three tries (15s)
	BGPBudget       Duration `toml:"bgp_budget"`       // a session restart after the far end's error wait (75s)
	ProbeFailures   int      `toml:"probe_failures"`   // ping/TCP/route rounds failed in a row, tunnels and sessions up (3)
	// WitnessWait bounds how long a change waits for the far ends of the
	// one-ended links it touches to report their checks (60s; "0s": none).
	WitnessWait Duration `toml:"witness_wait"`
}

// Rollout orders sites into waves; a site waits for the previous wave's notes.
type Rollout struct {
	Waves [][]string `toml:"waves"`
	Drift string     `toml:"drift"` // "repair" (default) or "report"
}

// Site is one router or host running a tether agent: sites/<name>.toml.
type Site struct {
	Name            string `toml:"-"`
	File            string `toml:"-"`
	Platform        string `toml:"platform"`         // "routeros" | "linux"
	RouterOSVersion string `toml:"routeros_version"` // 7.18 or newer; RouterOS only
	Description     string `toml:"description"`
	// Defconf says the RouterOS router runs the default configuration's
	// firewall (default true); CHR and netinstalled routers do not.
	Defconf        *bool    `toml:"defconf"`
	ASN            uint32   `toml:"asn"`       // default ASN for this site's BGP sessions
	RouterID       Addr     `toml:"router_id"` // BGP router ID (IPv4 form)
	RoutedPrefixes []Prefix `toml:"routed_prefixes"`
	Health         Health   `toml:"health"`

	Interfaces     []Interface        `toml:"interface"`
	WireGuard      []WireGuard        `toml:"wireguard"`
	Addresses      []Address          `toml:"address"`
	Routes         []Route            `toml:"route"`
	RoutingTables  []RoutingTable     `toml:"routing_table"`
	RoutingRules   []RoutingRule      `toml:"routing_rule"`
	AddressLists   []AddressListEntry `toml:"address_list"`
	Firewall       []FirewallRule     `toml:"firewall"`
	FirewallPolicy FirewallPolicy     `toml:"firewall_policy"`
	RouterAdverts  []RouterAdvert     `toml:"router_advertisement"`
	NDPProxy       []NDPProxy         `toml:"ndp_proxy"`
	VRRP           []VRRP             `toml:"vrrp"`
	Sysctl         map[string]string  `toml:"sysctl"`
	DNS            *DNS               `toml:"dns"`
	Management     Management         `toml:"management"`
	Logging        []LoggingRule      `toml:"logging"`
	Probes         []Probe            `toml:"probe"`
	Raw            Raw                `toml:"raw"`
	BGP            BGPSite            `toml:"bgp"`
}

// Interface describes an existing (non-WireGuard) interface the site uses.
type Interface struct {
	Name      string   `toml:"name"`
	Role      string   `toml:"role"`  // "wan" | "lan" | "" — used by lint rules and firewall defaults
	Lists     []string `toml:"lists"` // RouterOS interface lists tether adds it to
	Comment   string   `toml:"comment"`
	Networkd  bool     `toml:"networkd"`   // Linux: render a systemd-networkd .network unit
	DHCP      bool     `toml:"dhcp"`       // networkd: DHCP=yes
	AcceptRA  bool     `toml:"accept_ra"`  // networkd: IPv6AcceptRA=true
	IPv6Token string   `toml:"ipv6_token"` // networkd: [IPv6AcceptRA] Token=
	// IPv6PrivacyExtensions is networkd's [Network] IPv6PrivacyExtensions=:
	// "no" keeps a SLAAC address stable (a mesh endpoint dials it).
	IPv6PrivacyExtensions string `toml:"ipv6_privacy_extensions"`
	IPv6UseRedirect       *bool  `toml:"ipv6_use_redirect"` // networkd: [IPv6AcceptRA] UseRedirect=
	MTU                   int    `toml:"mtu"`
}

// WireGuard is a WireGuard interface on the site. The private key never
// appears here: RouterOS generates it; Linux reads it from the agent's key dir.
type WireGuard struct {
	Name       string   `toml:"name"`
	PublicKey  Key      `toml:"public_key"`
	ListenPort int      `toml:"listen_port"`
	MTU        int      `toml:"mtu"`
	Addresses  []IfAddr `toml:"addresses"` // addresses beyond the link transit addresses (e.g. a road-warrior pool gateway)
	Endpoint   Endpoint `toml:"endpoint"`  // how external peers reach this interface
	Table      string   `toml:"table"`     // Linux wg-quick Table=: "auto" (default), "off", or a table name
	Lists      []string `toml:"lists"`     // RouterOS interface lists
	Comment    string   `toml:"comment"`
}

// Address is an IP address on a non-WireGuard interface.
type Address struct {
	Interface string `toml:"interface"`
	Address   IfAddr `toml:"address"`
	Advertise *bool  `toml:"advertise"` // RouterOS IPv6 advertise= (router advertisements)
	Network   Addr   `toml:"network"`   // RouterOS IPv4 point-to-point network=
	Comment   string `toml:"comment"`
}

// Route is a static route.
type Route struct {
	Dst       Prefix `toml:"dst"`
	Gateway   string `toml:"gateway"` // an address or an interface name
	Blackhole bool   `toml:"blackhole"`
	Distance  int    `toml:"distance"`
	Table     string `toml:"table"`
	Comment   string `toml:"comment"`
}

// RoutingTable is an extra routing table (RouterOS /routing/table).
type RoutingTable struct {
	Name string `toml:"name"`
	FIB  bool   `toml:"fib"`
	ID   int    `toml:"id"` // Linux table number (default: derived)
}

// RoutingRule is a policy routing rule.
type RoutingRule struct {
	SrcAddress  Prefix `toml:"src_address"`
	DstAddress  Prefix `toml:"dst_address"`
	RoutingMark string `toml:"routing_mark"`
	Interface   string `toml:"interface"`
	Action      string `toml:"action"` // lookup | lookup-only-in-table | drop | unreachable
	Table       string `toml:"table"`
	Comment     string `toml:"comment"`
}

// AddressListEntry is one address of a firewall address list.
type AddressListEntry struct {
	List    string `toml:"list"`
	Address Prefix `toml:"address"`
	Comment string `toml:"comment"`
}

// FirewallRule is one filter, nat or mangle rule. Match fields left empty
// match anything; a leading "!" negates interface, list and state matches.
type FirewallRule struct {
	Family  string `toml:"family"` // "ip" | "ipv6" | "both" (default: from addresses, else both)
	Table   string `toml:"table"`  // "filter" (default) | "nat" | "mangle"
	Chain   string `toml:"chain"`  // input forward output | srcnat dstnat | prerouting postrouting ...
	Action  string `toml:"action"`
	Comment string `toml:"comment"`
	// PlaceBefore names an existing rule by its comment; the rule goes right
	// before it (RouterOS place-before). Without it rules are appended to the chain.
	PlaceBefore string `toml:"place_before"`
	Disabled    bool   `toml:"disabled"`

	Protocol           string   `toml:"protocol"`
	SrcAddress         Prefix   `toml:"src_address"`
	DstAddress         Prefix   `toml:"dst_address"`
	SrcAddressList     string   `toml:"src_address_list"`
	DstAddressList     string   `toml:"dst_address_list"`
	SrcPort            string   `toml:"src_port"`
	DstPort            string   `toml:"dst_port"`
	InInterface        string   `toml:"in_interface"`
	OutInterface       string   `toml:"out_interface"`
	InInterfaceList    string   `toml:"in_interface_list"`
	OutInterfaceList   string   `toml:"out_interface_list"`
	ConnectionState    []string `toml:"connection_state"`
	ConnectionNATState string   `toml:"connection_nat_state"`
	ICMPTypes          []string `toml:"icmp_types"` // nftables names, e.g. echo-request

	// Action parameters.
	ToAddresses    string `toml:"to_addresses"`
	ToPorts        string `toml:"to_ports"`
	NewRoutingMark string `toml:"new_routing_mark"`
	Passthrough    *bool  `toml:"passthrough"`
	RejectWith     string `toml:"reject_with"`
	Log            bool   `toml:"log"`
	LogPrefix      string `toml:"log_prefix"`
}

// FirewallPolicy is the final verdict of each base chain. On Linux it is the
// nftables chain policy. On RouterOS, whose chains always end in accept,
// "drop" on input or forward renders one drop rule tether owns and keeps
// as the last rule of the chain (IPv4 and IPv6), after defconf's rules and
// every other rule; output is Linux only.
type FirewallPolicy struct {
	Input   string `toml:"input"`
	Forward string `toml:"forward"`
	Output  string `toml:"output"`
}

// RouterAdvert announces LAN prefixes (radvd on Linux, /ipv6/nd on RouterOS).
type RouterAdvert struct {
	Interface       string    `toml:"interface"`
	Prefixes        []Prefix  `toml:"prefixes"`
	OnLink          *bool     `toml:"on_link"`          // default true
	Autonomous      *bool     `toml:"autonomous"`       // default true (SLAAC)
	Routes          []Prefix  `toml:"routes"`           // route information options (e.g. the covering /48)
	RoutePreference string    `toml:"route_preference"` // low | medium | high
	DefaultLifetime *Duration `toml:"default_lifetime"` // 0 = do not advertise as default router
	MinInterval     Duration  `toml:"min_interval"`
	MaxInterval     Duration  `toml:"max_interval"`
	ReachableTime   Duration  `toml:"reachable_time"`
	SourceAddress   Addr      `toml:"source_address"` // RA source, e.g. the VRRP link-local VIP
	DNS             []Addr    `toml:"dns"`
}

// NDPProxy answers neighbour solicitations for a prefix on an upstream interface.
type NDPProxy struct {
	Interface string `toml:"interface"` // the upstream NIC, e.g. enp1s0
	Prefix    Prefix `toml:"prefix"`
	Method    string `toml:"method"` // auto (default) | static | iface
	Via       string `toml:"via"`    // for method = "iface"
}

// VRRP is a keepalived VRRP instance.
type VRRP struct {
	Name             string   `toml:"name"`
	Interface        string   `toml:"interface"`
	VirtualRouterID  int      `toml:"virtual_router_id"`
	Priority         int      `toml:"priority"`
	AdvertInterval   Duration `toml:"advert_interval"`
	VirtualAddresses []IfAddr `toml:"virtual_addresses"`
	Preempt          *bool    `toml:"preempt"`
	GARPMasterDelay  int      `toml:"garp_master_delay"`
	SyncGroup        string   `toml:"sync_group"` // keepalived vrrp_sync_group: instances of this site that fail over together
	// Group names the virtual router this instance shares with instances
	// of other sites on the same link: one of them is master and holds the
	// virtual addresses, the others are its backups. Members must agree on
	// the router id, addresses and interval and differ in priority.
	Group string `toml:"group"`
}

// DNS is the RouterOS /ip/dns singleton.
type DNS struct {
	Servers             []Addr `toml:"servers"`
	AllowRemoteRequests bool   `toml:"allow_remote_requests"`
}

// Management hardens how the site itself is administered: which RouterOS
// services listen, on which port and for whom, and how SSH authenticates.
type Management struct {
	Services []ManagedService `toml:"service"` // RouterOS /ip/service entries
	SSH      *SSHSettings     `toml:"ssh"`
}

// ManagedService is one fixed RouterOS /ip/service entry (api, api-ssl,
// ftp, ssh, telnet, winbox, www, www-ssl); what it leaves unset stays as
// the router has it.
type ManagedService struct {
	Name      string   `toml:"name"`
	Enabled   *bool    `toml:"enabled"`
	Port      int      `toml:"port"`
	Addresses []Prefix `toml:"addresses"` // source prefixes allowed to connect
}

// SSHSettings is the SSH server's authentication and, on Linux, where it
// listens and who may log in (an sshd_config.d drop-in).
type SSHSettings struct {
	PasswordAuthentication *bool    `toml:"password_authentication"` // RouterOS 7.22+: /ip/ssh; Linux: PasswordAuthentication
	ListenAddresses        []string `toml:"listen_addresses"`        // Linux: ListenAddress (address or address:port)
	AllowUsers             []string `toml:"allow_users"`             // Linux: AllowUsers
	Port                   int      `toml:"port"`                    // Linux: Port (RouterOS: the ssh service's port)
	PermitRootLogin        string   `toml:"permit_root_login"`       // Linux: yes | no | prohibit-password | forced-commands-only
	MaxAuthTries           int      `toml:"max_auth_tries"`          // Linux: MaxAuthTries
	Unit                   string   `toml:"unit"`                    // Linux: unit reloaded after a change (default ssh.service)
}

// LoggingRule sends log topics to a log action (RouterOS /system/logging).
type LoggingRule struct {
	Topics []string `toml:"topics"` // e.g. ["wireguard", "info"]; "!x" excludes x
	Action string   `toml:"action"` // memory (default) | disk | echo | remote, or a /system/logging/action name
	Prefix string   `toml:"prefix"`
}

// Probe is a health check run from the site during the gate.
type Probe struct {
	Name     string `toml:"name"`
	Type     string `toml:"type"` // "ping" | "tcp"
	Target   Addr   `toml:"target"`
	Port     int    `toml:"port"`
	Source   Addr   `toml:"source"`
	Count    int    `toml:"count"`
	Optional bool   `toml:"optional"` // reported, never causes a revert
}

// BGPSite holds site-wide BGP naming on RouterOS.
type BGPSite struct {
	Instance string `toml:"instance"` // RouterOS 7.20+ /routing/bgp/instance name (default "tether")
}

// Raw items cover what the model does not; they are owned, diffed and
// reverted like everything else.
type Raw struct {
	RouterOS []RawRouterOS `toml:"routeros"`
	Linux    []RawFile     `toml:"linux"`
}

// RawRouterOS is one RouterOS item by menu path.
type RawRouterOS struct {
	Path        string            `toml:"path"`       // e.g. "/ip/dns" or "/ip/firewall/filter"
	Singleton   bool              `toml:"singleton"`  // a settings menu: set, never add
	Name        string            `toml:"name"`       // identity within tether's items of this path
	Attributes  map[string]string `toml:"attributes"` // RouterOS attribute names and values
	PlaceBefore string            `toml:"place_before"`
}

// RawFile is one Linux file rendered verbatim.
type RawFile struct {
	Path    string `toml:"path"` // absolute path on the host
	Content string `toml:"content"`
	Mode    string `toml:"mode"`   // octal, default "0644"
	Reload  string `toml:"reload"` // systemd unit to reload, when it runs, after a change or removal
}

// Link is one WireGuard tunnel between two sites: links/<name>.toml.
type Link struct {
	Name        string   `toml:"-"`
	File        string   `toml:"-"`
	Description string   `toml:"description"`
	Transit     []Prefix `toml:"transit"` // transit prefixes; both ends' addresses must be inside one
	Keepalive   Duration `toml:"keepalive"`
	A           LinkEnd  `toml:"a"`
	B           LinkEnd  `toml:"b"`
	BGP         *BGP     `toml:"bgp"`
}

// LinkEnd is one side of a link.
type LinkEnd struct {
	Site      string   `toml:"site"`
	Interface string   `toml:"interface"` // a [[wireguard]] of that site
	Address   IfAddr   `toml:"address"`   // this end's transit address
	Endpoint  Endpoint `toml:"endpoint"`  // where the other end dials this end; unset = this end only listens
	Allowed   []Prefix `toml:"allowed"`   // what this end accepts from the other (AllowedIPs); default: the other end's transit address
	Keepalive Duration `toml:"keepalive"` // overrides the link keepalive for this end
	BehindNAT bool     `toml:"behind_nat"`
	Route     *bool    `toml:"route"`     // install routes for Allowed (default true; false when BGP owns them)
	PeerName  string   `toml:"peer_name"` // name of the peer item on this end (default: the other site's name)
}

// BGP is an eBGP session over a link.
type BGP struct {
	AFI []string `toml:"afi"` // "ipv6", "ip" (default: from the transit addresses)
	A   BGPEnd   `toml:"a"`
	B   BGPEnd   `toml:"b"`
}

// BGPEnd is what one side of the session accepts and announces.
type BGPEnd struct {
	ASN              uint32        `toml:"asn"`
	RouterID         Addr          `toml:"router_id"`
	Import           []PrefixMatch `toml:"import"` // accepted from the peer; required (lint TL006)
	Export           []PrefixMatch `toml:"export"` // announced to the peer; required unless default_originate (TL006)
	Networks         []Prefix      `toml:"networks"`
	DefaultOriginate bool          `toml:"default_originate"`
	// Holdtime is the BGP hold time; zero leaves the platform default.
	Holdtime Duration `toml:"holdtime"`
}

// Peer is a WireGuard device that is not a site: a phone, a laptop, a server
// of a mesh, a VPN provider's server. peers/<name>.toml.
type Peer struct {
	Name        string       `toml:"-"`
	File        string       `toml:"-"`
	Description string       `toml:"description"`
	Kind        string       `toml:"kind"` // phone | laptop | server | provider
	PublicKey   Key          `toml:"public_key"`
	Site        string       `toml:"site"`      // the site it connects to
	Interface   string       `toml:"interface"` // that site's WireGuard interface
	Addresses   []IfAddr     `toml:"addresses"` // the peer's own tunnel addresses
	Allowed     []Prefix     `toml:"allowed"`   // what the site accepts from it (default: its addresses as host routes)
	Endpoint    Endpoint     `toml:"endpoint"`  // where the site dials it (a provider server); unset = it dials in
	Keepalive   Duration     `toml:"keepalive"`
	Exit        string       `toml:"exit"` // a peer of the same site interface this device's internet traffic leaves through
	Profile     *PeerProfile `toml:"profile"`
	Mesh        *PeerMesh    `toml:"mesh"`
}

// PeerProfile is the wg-quick profile rendered for the device itself.
type PeerProfile struct {
	Tunnel    string   `toml:"tunnel"` // "split" (default) | "full"
	Routes    []Prefix `toml:"routes"` // split tunnel AllowedIPs (default: what the site's interface serves)
	DNS       []Addr   `toml:"dns"`
	Endpoint  Endpoint `toml:"endpoint"` // how the device reaches the site (default: the site interface's endpoint)
	MTU       int      `toml:"mtu"`
	Keepalive Duration `toml:"keepalive"`
}

// PeerMesh puts servers into a WireGuard mesh among themselves, dialling
// each other at their overlay addresses (the ula-mesh pattern).
type PeerMesh struct {
	Name       string   `toml:"name"`      // mesh name; every peer with the same name is a member
	Interface  string   `toml:"interface"` // interface name on the server, e.g. wgvpn01
	Address    IfAddr   `toml:"address"`   // mesh tunnel address, e.g. fd10::1/128
	Endpoint   Endpoint `toml:"endpoint"`  // where other members dial it (its overlay ULA:port)
	ListenPort int      `toml:"listen_port"`
	MTU        int      `toml:"mtu"`
}
