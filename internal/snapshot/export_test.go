package snapshot

// ReadWithLimits is Read with other limits, for tests that must not inflate
// a gigabyte to prove the budget.
var ReadWithLimits = readWithLimits
