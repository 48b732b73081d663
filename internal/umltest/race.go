//go:build race

package umltest

// raceBuild: this binary has the race detector, whose shadow memory the
// guest's address space cannot hold; InGuest builds a plain one.
const raceBuild = true
