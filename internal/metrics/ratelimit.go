package metrics

// RateLimitErrors counts per-user rate limit checks that failed (DynamoDB
// unreachable or throttling), whichever way the function then answered.
const RateLimitErrors = "RateLimitErrors"

// RateLimitError counts one failed rate limit check.
func (m *EMF) RateLimitError() { m.put(RateLimitErrors, "Count", 1, "", "") }
