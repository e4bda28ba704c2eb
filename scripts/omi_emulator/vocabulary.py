"""The word lists the Generator draws from: words, names, categories,
sources, languages, emoji, topics and folders, the multilingual lines, the
unknown category and source, and the hostile ids of --hostile-ids."""

WORDS = (
    "the a we should need to about project budget meeting plan team review "
    "design launch customer feedback call email schedule next week tomorrow "
    "today idea coffee lunch dinner gym run walk book read write code test "
    "deploy server bug fix release notes slides deck roadmap quarter goal "
    "metric growth hiring interview candidate contract invoice payment travel "
    "flight hotel train ticket doctor appointment dentist pharmacy groceries "
    "milk bread eggs garden plants water kids school homework birthday party "
    "gift music guitar practice podcast episode movie weekend family friends "
    "mom dad sister brother partner really maybe definitely probably think "
    "know feel want like love great good bad hard easy quick slow early late "
    "morning afternoon evening night remember forget decide agree disagree "
    "question answer problem solution data model api key file folder backup "
    "and or but so because then also just still already yet again"
).split()
MULTILINGUAL = [
    "今日はとても良い天気ですね。会議は三時からです。",
    "我们下周在上海见面，讨论新的项目计划。",
    "회의는 내일 오전 10시에 있습니다.",
    "שלום! מה שלומך היום? נדבר מחר בבוקר.",
    "مرحبا، كيف حالك اليوم؟ سنلتقي غدا.",
    "🎉🚀 Launch day! 👍🏽 👨‍👩‍👧‍👦 ❤️‍🔥 🏳️‍🌈",
    "Café naïve façade – “quotes” ‘single’ … ß Ω ∑ ≠",
    "mixed: hello שלום world مرحبا 你好 🌍",
]
PEOPLE = ["Alex", "Sam", "Priya", "Kenji", "Noa", "Fatima", "Lukas", "María",
          "Chen Wei", "Oluwaseun", "Zoë", "Dmitri"]
CONV_CATEGORIES = [
    "personal", "education", "health", "finance", "legal", "philosophy",
    "spiritual", "science", "entrepreneurship", "parenting", "romance",
    "travel", "inspiration", "technology", "business", "social", "work",
    "sports", "politics", "literature", "history", "architecture", "music",
    "weather", "news", "entertainment", "psychology", "real", "design",
    "family", "economics", "environment", "other",
]
COMMON_CONV_CATEGORIES = ["personal", "business", "work", "health", "family",
                          "technology", "education", "travel", "other"]
MEM_CATEGORIES = ["interesting", "system", "manual", "workflow", "core",
                  "hobbies", "lifestyle", "interests", "habits", "work",
                  "skills", "learnings", "other", "auto"]
UNKNOWN_CATEGORY = "quantum-gardening"
SOURCES = ["omi", "omi", "omi", "friend", "phone", "desktop", "openglass",
           "screenpipe", "workflow", "sdcard", "apple_watch", "unknown"]
UNKNOWN_SOURCE = "neural-lace"
LANGUAGES = ["en", "en", "en", "en", "de", "es", "fr", "ja", "multi"]
EMOJIS = ["💼", "🧠", "🍽️", "🏃", "📚", "🎵", "✈️", "🩺", "👨‍👩‍👧", "💡", "🛠️", "🗓️"]
TOPICS = ["Weekly sync", "Project kickoff", "Lunch chat", "Doctor visit",
          "Budget review", "Trip planning", "Book club", "Standup",
          "Interview debrief", "Garden plans", "Guitar lesson", "Family call",
          "Design critique", "Release planning", "Gym session", "Podcast notes"]
FOLDERS = [("Work", True), ("Personal", True), ("Ideas / Drafts", True)]
HOSTILE_IDS = ["a/b/c", ".", "..", "ctl\x01\x1b[31m\x7f\n\tid", "nul\x00id",
               "long-" + "x" * 295]
