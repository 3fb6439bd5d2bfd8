DROP TABLE food_security;
