"""Word pools the data generator draws slot values from. Large on purpose: the split must not leak
by memorizing a handful of names."""

FIRST_NAMES = """
Aaliyah Aaron Abdul Abigail Ada Adrian Aiko Aisha Alejandro Alex Alice Amara Amir Ana Andre Andrew Anika
Anna Arjun Ava Ben Bianca Boris Brandon Camila Carlos Caroline Chen Chloe Chris Clara Daniel Dario David
Diego Dmitri Elena Eli Elif Emily Emma Eric Esther Ethan Fatima Felix Fiona Gabriel Grace Hana Hannah
Hassan Hiro Ian Imani Isaac Isabel Ivan Jack Jamal James Jasmine Javier Jin Joao John Jordan Jose Julia
Kai Karen Kate Kenji Kevin Khalid Kim Laila Lars Laura Leo Liam Lina Lucas Lucia Luis Maya Mei Mia
Michael Miguel Mila Mohammed Nadia Naomi Nate Nick Nina Noah Nora Olga Omar Oscar Pablo Paul Priya Rafael
Ravi Rosa Ryan Sam Sara Sean Sid Sofia Sophie Stefan Sun Tara Theo Tom Tomas Uma Victor Wei Will Yara
Yusuf Zara Zoe
""".split()

LAST_NAMES = """
Adams Ahmed Alvarez Becker Brown Chen Cohen Costa Das Dubois Evans Fischer Garcia Gupta Hansen Ito Jones
Kim Kowalski Lee Lopez Martin Meyer Moreau Nakamura Nguyen Novak Okafor Olsen Patel Perez Rossi Sato
Schmidt Silva Singh Smith Tanaka Taylor Wang Weber Wilson Yilmaz Zhang
""".split()

PLACES = [
    "Golden Gate Park", "the Ferry Building", "Union Square", "Stanford University", "SFO airport",
    "Oakland airport", "Berkeley Marina", "the Exploratorium", "Dolores Park", "Pier 39", "Lake Merritt",
    "the Chase Center", "Oracle Park", "the Mission District", "Palo Alto Caltrain station",
    "1 Infinite Loop, Cupertino", "2150 Shattuck Ave, Berkeley", "500 Castro St, Mountain View",
    "the Computer History Museum", "Half Moon Bay", "Muir Woods", "Sausalito", "Santa Cruz boardwalk",
    "the Moscone Center", "Chinatown", "Fisherman's Wharf", "the de Young museum", "Twin Peaks",
    "Lands End", "Japantown", "Haight Street", "the public library", "the nearest pharmacy",
    "Whole Foods on 4th Street", "Trader Joe's", "the train station", "the downtown gym",
    "Blue Bottle Coffee", "the farmers market", "City Hall", "the children's hospital", "my office",
    "home", "the airport", "the university campus", "the dentist", "the soccer field", "the bank",
    "Central Park", "Times Square", "Brooklyn Bridge", "the Louvre", "Shibuya Crossing", "Big Ben",
    "the Space Needle", "Pike Place Market", "Navy Pier", "the Art Institute of Chicago",
    "221B Baker Street", "10 Downing Street", "the Eiffel Tower", "Yosemite Valley", "Lake Tahoe",
    "Napa Valley", "Monterey Bay Aquarium", "Alcatraz ferry terminal", "the Stanford Shopping Center",
    "Levi's Stadium", "San Jose Diridon station", "the Castro Theatre", "Ocean Beach",
]

HOME_LIKE = ["home", "my office", "work", "the hotel", "my place", "the office"]

TRANSPORT_WORDS = {
    "d": ["drive", "driving", "by car", "in the car"],
    "w": ["walk", "walking", "on foot"],
    "r": ["public transit", "by train", "by bus", "transit"],
}

FILE_STEMS = [
    "quarterly report", "Q3 budget", "project proposal", "research paper", "lease agreement",
    "meeting minutes", "design doc", "resume", "cover letter", "invoice March", "tax return 2025",
    "insurance policy", "travel itinerary", "syllabus", "thesis draft", "user manual", "annual review",
    "marketing plan", "sales deck", "onboarding guide", "product roadmap", "expense report",
    "contract draft", "NDA", "grant application", "lab results", "conference schedule",
    "wedding checklist", "recipe collection", "floor plan", "audit findings", "board memo",
    "release notes", "benchmark results", "security review", "hiring plan", "style guide",
    "course notes", "reading list", "architecture overview", "incident report", "press release",
    "job offer", "rental application", "pitch deck", "final exam review", "loan statement",
    "medical records", "vacation photos list", "team OKRs", "customer survey", "API spec",
]

FOLDERS = [
    "Work", "Personal", "Ideas", "Recipes", "Travel", "Projects", "School", "Meetings", "Shopping",
    "Journal", "Research", "Family", "Finance", "Health", "Books", "Reading", "Archive", "Notes",
]

NOTE_TITLES = [
    "Grocery list", "Packing list", "Book ideas", "Meeting notes", "Weekly goals", "Gift ideas",
    "Workout plan", "Questions for the doctor", "Trip plan", "Recipe ideas", "Project ideas",
    "Reading list", "To do", "Birthday plans", "Movie watchlist", "Garden plan", "Budget",
    "Interview prep", "Lecture notes", "Podcast ideas", "Home repairs", "Wedding plans",
    "Standup notes", "Travel checklist", "Passwords hint list", "Blog drafts", "Study plan",
]

NOTE_CONTENTS = [
    "buy milk, eggs and bread", "call the plumber about the sink", "try the new ramen place",
    "pack the charger and passport", "read chapter 4 before Friday", "renew the car registration",
    "ask about the lab results", "book flights for December", "finish the slides for the review",
    "water the plants twice a week", "pick up the dry cleaning", "compare three laptop models",
    "write the intro section", "order a birthday cake", "schedule the dentist cleaning",
    "fix the login bug", "send the invoice to the client", "update the team roadmap",
    "practice the presentation", "return the library books", "cancel the gym membership",
    "prepare questions for the landlord", "check the train times", "buy a gift for mom",
]

SUBJECTS = [
    "Budget review", "Project update", "Lunch plans", "Weekend trip", "Team offsite", "Quick question",
    "Meeting follow-up", "Contract details", "Interview schedule", "Design feedback", "Birthday party",
    "Homework help", "Quarterly numbers", "Launch checklist", "Travel plans", "Dinner on Friday",
    "Research collaboration", "Paper draft", "Office move", "Holiday schedule", "Invoice",
    "Conference talk", "Reading group", "Hackathon", "Volunteer shift", "Board meeting",
]

EMAIL_CONTEXTS = [
    "ask if they can review the draft by Thursday", "say the meeting moved to next week",
    "share the latest numbers and ask for comments", "invite them to lunch on Friday",
    "confirm the booking for the conference room", "thank them for their help on the launch",
    "ask for the signed contract", "remind them about the deadline tomorrow",
    "let them know I will be late", "propose a call to discuss the roadmap",
    "send my notes from the workshop", "ask whether the invoice was paid",
    "tell them the demo went well", "ask for feedback on the slides",
    "introduce them to each other", "check if they are free this weekend",
    "say I approved the budget", "ask them to bring the projector",
    "let them know the report is ready", "apologize for missing the call",
]

SMS_MESSAGES = [
    "running 10 minutes late", "I'm outside", "can you pick up the kids today?", "dinner is at 7",
    "call me when you can", "happy birthday!", "the meeting got cancelled", "don't forget the tickets",
    "I landed safely", "see you at the station", "can we move our call to tomorrow?",
    "bring an umbrella", "thanks for today", "the package arrived", "are you coming tonight?",
    "I left the keys under the mat", "good luck with the interview", "on my way",
    "let's grab coffee this week", "the game starts at 8",
]

EVENT_TITLES = [
    "Team sync", "Project kickoff", "Dentist appointment", "Lunch with the team", "Design review",
    "Yoga class", "Parent-teacher meeting", "Book club", "1:1", "Sprint planning", "Coffee chat",
    "Doctor's appointment", "Study session", "Board meeting", "Family dinner", "Client call",
    "Hackathon", "Movie night", "Guitar lesson", "Budget review", "Interview", "Office hours",
    "Birthday party", "Retrospective", "Workshop", "Soccer practice", "Flight to Boston",
]

MEETING_TOPICS = [
    "roadmap planning", "weekly check-in", "code review", "hiring debrief", "marketing sync",
    "paper discussion", "customer onboarding", "budget planning", "design critique",
    "research update", "release readiness", "thesis feedback", "sales pipeline", "event planning",
    "security review", "data migration", "team retro", "investor update", "curriculum review",
]

REMINDER_TASKS = [
    "pay rent", "call grandma", "renew passport", "take the medicine", "submit the timesheet",
    "buy groceries", "water the plants", "back up the laptop", "feed the cat", "send the tax forms",
    "book the vet", "return the rental car", "pick up the package", "charge the car",
    "cancel the free trial", "prepare the slides", "change the air filter", "register for the race",
    "order contact lenses", "email the landlord", "check the oil", "buy flowers",
]

REMINDER_LISTS = ["Personal", "Work", "Errands", "Family", "Home", "Shopping", "Health"]

REPLY_CONTEXTS = [
    "say yes, Tuesday works for me", "thank them and say I will look at it tonight",
    "tell them the attached file has the changes", "ask for a few more days",
    "say I cannot make it and suggest Friday", "confirm that the numbers look right",
    "say I'm interested and ask for details", "ask them to resend the attachment",
]

FORWARD_CONTEXTS = [
    "FYI, please take a look", "can you handle this one?", "see below, thoughts?",
    "forwarding for your records", "this is the thread I mentioned", "please review before Monday",
]

MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
]
