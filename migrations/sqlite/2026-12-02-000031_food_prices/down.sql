DROP TABLE food_prices;
DROP TABLE markets;
