-- The old schema of a small rental shop, shaped like a real application database: 19 tables,
-- 32 foreign keys (self-references and a staff <-> store cycle), a partitioned table, an enum, a
-- domain, arrays, bytea, a tsvector kept by a trigger, legacy DEFAULT nextval() sequences owned by
-- no column (one shared by the partitions), a view and an unpopulated materialized view.
CREATE TYPE mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
CREATE DOMAIN year AS integer CHECK (VALUE BETWEEN 1901 AND 2155);
CREATE SEQUENCE customer_id_seq;
CREATE SEQUENCE film_id_seq;
CREATE SEQUENCE rental_id_seq;
CREATE SEQUENCE payment_id_seq;

CREATE TABLE country (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE city (id serial PRIMARY KEY, name text NOT NULL, country_id int NOT NULL REFERENCES country);
CREATE TABLE address (id serial PRIMARY KEY, line1 text NOT NULL, city_id int NOT NULL REFERENCES city, postal_code text);
CREATE TABLE staff (id serial PRIMARY KEY, name text NOT NULL, manager_id int REFERENCES staff, store_id int, picture bytea);
CREATE TABLE store (id serial PRIMARY KEY, name text NOT NULL, manager_staff_id int REFERENCES staff, address_id int NOT NULL REFERENCES address);
ALTER TABLE staff ADD FOREIGN KEY (store_id) REFERENCES store;
CREATE TABLE customer (id int PRIMARY KEY DEFAULT nextval('customer_id_seq'), store_id int NOT NULL REFERENCES store, first_name text NOT NULL,
    last_name text NOT NULL, email text, address_id int REFERENCES address, active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(), legacy_points int);
CREATE TABLE category (id serial PRIMARY KEY, name text NOT NULL, parent_id int REFERENCES category);
CREATE TABLE language (id smallserial PRIMARY KEY, name char(20) NOT NULL);
CREATE TABLE film (id int PRIMARY KEY DEFAULT nextval('film_id_seq'), title text NOT NULL, description text, release_year year,
    language_id smallint NOT NULL REFERENCES language, original_language_id smallint REFERENCES language, rating mpaa_rating,
    rental_rate numeric(4,2) NOT NULL, special_features text[], poster bytea, fulltext tsvector);
CREATE TRIGGER film_fulltext BEFORE INSERT OR UPDATE ON film FOR EACH ROW EXECUTE FUNCTION tsvector_update_trigger(fulltext, 'pg_catalog.english', title, description);
CREATE TABLE film_category (film_id int REFERENCES film, category_id int REFERENCES category, PRIMARY KEY (film_id, category_id));
CREATE TABLE actor (id serial PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL);
CREATE TABLE film_actor (actor_id int REFERENCES actor, film_id int REFERENCES film, PRIMARY KEY (actor_id, film_id));
CREATE TABLE inventory (id serial PRIMARY KEY, film_id int NOT NULL REFERENCES film, store_id int NOT NULL REFERENCES store);
CREATE TABLE rental (id bigint PRIMARY KEY DEFAULT nextval('rental_id_seq'), rental_date timestamp NOT NULL, inventory_id int NOT NULL REFERENCES inventory,
    customer_id int NOT NULL REFERENCES customer, return_date timestamp, staff_id int NOT NULL REFERENCES staff);
CREATE TABLE payment (id bigint NOT NULL DEFAULT nextval('payment_id_seq'), customer_id int NOT NULL REFERENCES customer, staff_id int NOT NULL REFERENCES staff,
    rental_id bigint REFERENCES rental, amount numeric(6,2) NOT NULL, payment_date timestamptz NOT NULL, PRIMARY KEY (id, payment_date)) PARTITION BY RANGE (payment_date);
CREATE TABLE payment_2024 PARTITION OF payment FOR VALUES FROM ('2024-01-01 00:00+00') TO ('2025-01-01 00:00+00');
CREATE TABLE payment_2025 PARTITION OF payment FOR VALUES FROM ('2025-01-01 00:00+00') TO ('2026-01-01 00:00+00');
CREATE TABLE review (id serial PRIMARY KEY, film_id int NOT NULL REFERENCES film, customer_id int NOT NULL REFERENCES customer,
    parent_review_id int REFERENCES review, body text);
CREATE TABLE wishlist (customer_id int REFERENCES customer, film_id int REFERENCES film, PRIMARY KEY (customer_id, film_id));
CREATE TABLE loyalty (customer_id int PRIMARY KEY REFERENCES customer, referred_by int REFERENCES customer, tier text);
CREATE TABLE coupon (id serial PRIMARY KEY, issued_by int NOT NULL REFERENCES staff, redeemed_rental bigint REFERENCES rental, code text NOT NULL);
-- More references, as a real schema grows them: a second key cycle (inventory <-> rental) among them.
ALTER TABLE inventory ADD COLUMN last_rental_id bigint REFERENCES rental;
ALTER TABLE review ADD COLUMN staff_reply_by int REFERENCES staff;
ALTER TABLE coupon ADD COLUMN customer_id int REFERENCES customer;
ALTER TABLE loyalty ADD COLUMN store_id int REFERENCES store;
ALTER TABLE wishlist ADD COLUMN added_by_staff int REFERENCES staff;
ALTER TABLE store ADD COLUMN city_id int REFERENCES city;
ALTER TABLE customer ADD COLUMN preferred_language_id smallint REFERENCES language;
ALTER TABLE film_actor ADD COLUMN credited_by int REFERENCES staff;
ALTER TABLE payment ADD COLUMN coupon_id int REFERENCES coupon;
CREATE VIEW customer_list AS SELECT c.id, c.first_name || ' ' || c.last_name AS name, a.line1 FROM customer c LEFT JOIN address a ON a.id = c.address_id;
CREATE MATERIALIZED VIEW sales_by_store AS SELECT s.name, sum(p.amount) AS total FROM payment p JOIN staff st ON st.id = p.staff_id JOIN store s ON s.id = st.store_id GROUP BY s.name WITH NO DATA;

INSERT INTO country (name) SELECT 'Country ' || g FROM generate_series(1, 20) g;
INSERT INTO city (name, country_id) SELECT 'City ' || g, 1 + g % 20 FROM generate_series(1, 200) g;
INSERT INTO address (line1, city_id, postal_code) SELECT g || ' Main St', 1 + g % 200, lpad(g::text, 5, '0') FROM generate_series(1, 600) g;
INSERT INTO staff (name, manager_id) VALUES ('Ada', NULL), ('Bob', 1), ('Cy', 1), ('Di', 2);
INSERT INTO store (name, manager_staff_id, address_id) VALUES ('North', 1, 1), ('South', 2, 2);
UPDATE staff SET store_id = 1 + id % 2;
INSERT INTO customer (store_id, first_name, last_name, email, address_id, created_at, legacy_points)
SELECT 1 + g % 2, 'First' || g, 'Last ''' || g, CASE WHEN g % 9 = 0 THEN NULL ELSE 'c' || g || '@example.com' END, 1 + g % 600,
       '2023-06-01 12:00+00'::timestamptz + g * interval '37 minutes', g % 100 FROM generate_series(1, 1500) g;
INSERT INTO category (name, parent_id) SELECT 'Category ' || g, CASE WHEN g > 4 THEN 1 + g % 4 END FROM generate_series(1, 16) g;
INSERT INTO language (name) VALUES ('English'), ('Français'), ('日本語');
INSERT INTO film (title, description, release_year, language_id, original_language_id, rating, rental_rate, special_features, poster)
SELECT 'Film ' || g, 'A story of ' || g || ' things', 1950 + g % 70, 1 + g % 3, CASE WHEN g % 4 = 0 THEN 2 END,
       (ARRAY['G','PG','PG-13','R','NC-17'])[1 + g % 5]::mpaa_rating, (g % 5) + 0.99, ARRAY['Trailers', 'Deleted "Scenes"'],
       decode(md5(g::text), 'hex') FROM generate_series(1, 400) g;
INSERT INTO film_category SELECT f, 1 + f % 16 FROM generate_series(1, 400) f;
INSERT INTO actor (first_name, last_name) SELECT 'Actor', 'N' || g FROM generate_series(1, 100) g;
INSERT INTO film_actor SELECT 1 + (f * 7 + k) % 100, f FROM generate_series(1, 400) f, generate_series(0, 2) k;
INSERT INTO inventory (film_id, store_id) SELECT 1 + g % 400, 1 + g % 2 FROM generate_series(1, 1200) g;
INSERT INTO rental (rental_date, inventory_id, customer_id, return_date, staff_id)
SELECT '2024-03-10 01:00'::timestamp + g * interval '47 minutes', 1 + g % 1200, 1 + g % 1500,
       CASE WHEN g % 10 = 0 THEN NULL ELSE '2024-03-12 01:00'::timestamp + g * interval '47 minutes' END, 1 + g % 4 FROM generate_series(1, 4000) g;
INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date)
SELECT 1 + g % 1500, 1 + g % 4, g, (g % 9) + 0.5, '2024-06-01 00:00+00'::timestamptz + g * interval '3 hours' FROM generate_series(1, 4000) g;
INSERT INTO review (film_id, customer_id, parent_review_id, body) SELECT 1 + g % 400, 1 + g % 1500, CASE WHEN g > 10 THEN g / 10 END, 'Review ' || g FROM generate_series(1, 300) g;
INSERT INTO wishlist SELECT c, 1 + c % 400 FROM generate_series(1, 800) c;
INSERT INTO loyalty SELECT c, CASE WHEN c > 1 THEN c - 1 END, (ARRAY['bronze','silver','gold'])[1 + c % 3] FROM generate_series(1, 500) c;
INSERT INTO coupon (issued_by, redeemed_rental, code) SELECT 1 + g % 4, CASE WHEN g % 2 = 0 THEN g END, 'CODE' || g FROM generate_series(1, 200) g;
UPDATE inventory SET last_rental_id = (SELECT max(r.id) FROM rental r WHERE r.inventory_id = inventory.id);
UPDATE review SET staff_reply_by = 1 + id % 4 WHERE id % 3 = 0;
UPDATE coupon SET customer_id = 1 + id % 1500;
UPDATE loyalty SET store_id = 1 + customer_id % 2;
UPDATE wishlist SET added_by_staff = 1 + customer_id % 4 WHERE customer_id % 5 = 0;
UPDATE store SET city_id = id;
UPDATE customer SET preferred_language_id = 1 + id % 3 WHERE id % 4 = 0;
UPDATE film_actor SET credited_by = 1 + film_id % 4 WHERE film_id % 6 = 0;
UPDATE payment SET coupon_id = 1 + id % 200 WHERE id % 7 = 0;
