package clock

// For the external tests: the id a clock event gets, and a clock's key.
var (
	EventID = eventID
	S136Key = s136Key
)
