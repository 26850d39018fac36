package quiz

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStarterIsValid(t *testing.T) {
	d := Starter()
	require.NoError(t, d.Validate())
}

func TestValidateReportsFields(t *testing.T) {
	for name, tc := range map[string]struct {
		edit  func(d *Definition)
		field string
	}{
		"no title":           {func(d *Definition) { d.Title = "  " }, "title"},
		"no questions":       {func(d *Definition) { d.Questions = nil }, "questions"},
		"one answer":         {func(d *Definition) { d.Questions[0].Answers = d.Questions[0].Answers[:1] }, "questions[0].answers"},
		"duplicate question": {func(d *Definition) { d.Questions[1].ID = d.Questions[0].ID }, "questions[1].id"},
		"duplicate answer":   {func(d *Definition) { d.Questions[0].Answers[1].ID = "essentials" }, "questions[0].answers[1].id"},
		"slash in segment":   {func(d *Definition) { d.Segments[0].Key = "a/b" }, "segments[0].key"},
		"unknown segment":    {func(d *Definition) { d.Questions[0].Answers[0].Segment = "nope" }, "questions[0].answers[0].segment"},
		"unknown default":    {func(d *Definition) { d.DefaultSegment = "nope" }, "default_segment"},
		"long text":          {func(d *Definition) { d.Questions[0].Text = strings.Repeat("x", MaxTextLen+1) }, "questions[0].text"},
		"no segments":        {func(d *Definition) { d.Segments = nil }, "segments"},
		"product id":         {func(d *Definition) { d.Segments[0].Products = []Product{{Title: "x", URL: "/products/x"}} }, "segments[0].products[0].id"},
		"protocol-relative":  {func(d *Definition) { d.Segments[0].Products = []Product{{ID: 1, Title: "x", URL: "//evil.example/x"}} }, "segments[0].products[0].url"},
		"http image": {func(d *Definition) {
			d.Segments[0].Products = []Product{{ID: 1, Title: "x", URL: "/x", ImageURL: "http://cdn/x.png"}}
		}, "segments[0].products[0].image_url"},
	} {
		d := Starter()
		tc.edit(&d)
		err := d.Validate()
		require.Error(t, err, name)
		fe, ok := err.(FieldErrors)
		require.True(t, ok, name)
		require.Contains(t, fe, tc.field, name)
	}
}

func TestScore(t *testing.T) {
	d := Starter()
	require.NoError(t, d.Validate())
	seg, errs := d.Score(map[string]string{"goal": "treat", "style": "bold"})
	require.Nil(t, errs)
	require.Equal(t, "b", seg)
	// A tie goes to the segment listed first.
	seg, _ = d.Score(map[string]string{"goal": "gift", "style": "simple"})
	require.Equal(t, "a", seg)
	seg, _ = d.Score(map[string]string{"goal": "gift", "style": "any"})
	require.Equal(t, "c", seg)
	_, errs = d.Score(map[string]string{"goal": "gift"})
	require.Contains(t, errs, "answers.style")
	_, errs = d.Score(map[string]string{"goal": "gift", "style": "any", "extra": "x"})
	require.Contains(t, errs, "answers")
}
