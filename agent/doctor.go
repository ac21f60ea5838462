package agent

// DoctorCheck is one line of `tether doctor`'s checklist: what was checked,
// whether it passed, what was seen, and for a failure what to do about it.
type DoctorCheck struct {
	Area   string `json:"area"` // "routeros" | "linux"
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}
