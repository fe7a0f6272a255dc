"""Class or team evaluations: students give each other peer feedback on criteria; a
teacher queues an AI summary per student, one at a time or for the whole evaluation."""
