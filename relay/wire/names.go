package wire

// Room names and client ids are 1 to 64 characters from A-Z a-z 0-9 . _ -
// A request for any other room name gets HTTP 400 before the upgrade; so
// does a ?client= that breaks the rule.
const (
	MaxRoomLen = 64
	MaxIDLen   = 64

	// RoomPattern is the rule as a regular expression (RE2 and JavaScript
	// alike), for the web pages.
	RoomPattern = `^[A-Za-z0-9._-]{1,64}$`
	// NameRule says the rule to people, in error messages.
	NameRule = "1 to 64 characters from A-Z a-z 0-9 . _ -"
)

// ValidRoom reports whether name is a valid room name.
func ValidRoom(name string) bool { return ValidName(name, MaxRoomLen) }

// ValidID reports whether id is a valid client id.
func ValidID(id string) bool { return ValidName(id, MaxIDLen) }

// ValidName reports whether s is 1 to max characters from A-Z a-z 0-9 . _ -
// (the alphabet of room names and client ids).
func ValidName(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
