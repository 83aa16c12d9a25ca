"""A short list of first names shared by the makemore ports (written here; nothing is downloaded)."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept

NAMES = """emma olivia ava isabella sophia charlotte mia amelia harper evelyn abigail emily elizabeth mila ella
avery sofia camila aria scarlett victoria madison luna grace chloe penelope layla riley zoey nora lily
eleanor hannah lillian addison aubrey ellie stella natalie zoe leah hazel violet aurora savannah audrey
brooklyn bella claire skylar liam noah william james oliver benjamin elijah lucas mason logan alexander
ethan jacob michael daniel henry jackson sebastian aiden matthew samuel david joseph carter owen wyatt
john jack luke jayden dylan grayson levi isaac gabriel julian mateo anthony jaxon lincoln joshua
christopher andrew theodore caleb ryan asher nathan thomas leo isaiah charles josiah hudson christian
hunter connor eli ezra aaron landon adrian jonathan nolan jeremiah easton elias colton cameron carson
robert angel maverick nicholas dominic jaxson greyson adam ian austin santiago jordan cooper brayden
roman evan ezekiel xavier jose jace jameson leonardo bryson axel everett parker kayden miles sawyer
jason quinn""".split()
