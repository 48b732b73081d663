//go:build !race

package umltest

const raceBuild = false
