// Recorded shapes of the standard events the pixel subscribes to, following
// the Web Pixels API types (@shopify/web-pixels-extension PixelEvents*).
const context = {document: {location: {href: 'https://shop.example/products/clay-mask'}, title: 'Clay mask'}};
const clientId = 'b2c8a4a4-0e7e-4b7c-9d1f-5d6f1e1b2c3d';

const variant = {
  id: '44521880109211',
  image: {src: '//cdn.shopify.com/s/files/clay-mask.jpg'},
  price: {amount: 24, currencyCode: 'EUR'},
  product: {id: '8123456789012', title: 'Clay mask', type: 'Skincare', untranslatedTitle: 'Clay mask', url: '/products/clay-mask', vendor: 'Acme'},
  sku: 'CM-50',
  title: '50 ml',
  untranslatedTitle: '50 ml',
};

const checkout = {
  attributes: [],
  billingAddress: null,
  buyerAcceptsEmailMarketing: false,
  buyerAcceptsSmsMarketing: false,
  currencyCode: 'EUR',
  delivery: null,
  discountApplications: [],
  discountsAmount: null,
  email: 'ann@example.com',
  lineItems: [
    {discountAllocations: [], finalLinePrice: {amount: 48, currencyCode: 'EUR'}, id: 'line-1', properties: [], quantity: 2,
      sellingPlanAllocation: null, title: 'Clay mask', variant},
  ],
  localization: {country: {isoCode: 'FR'}, language: {isoCode: 'fr'}, market: {id: 'gid://shopify/Market/1', handle: 'fr'}},
  order: null,
  phone: null,
  shippingAddress: {address1: '1 rue de Rivoli', city: 'Paris', country: 'France', firstName: 'Ann', lastName: 'Lee', zip: '75001'},
  shippingLine: null,
  smsMarketingPhone: null,
  subtotalPrice: {amount: 48, currencyCode: 'EUR'},
  token: 'ck-7f3a9c',
  totalPrice: {amount: 52.9, currencyCode: 'EUR'},
  totalTax: {amount: 8.82, currencyCode: 'EUR'},
  transactions: [],
};

let seq = 0;
function event(name: string, data: unknown, id?: string) {
  seq++;
  return {id: id ?? `sh-evt-${seq}`, clientId, name, seq, type: 'standard', timestamp: `2026-11-23T10:00:0${seq % 10}.000Z`, context, data};
}

export const recorded = {
  clientId,
  productViewed: (id?: string) => event('product_viewed', {productVariant: variant}, id),
  collectionViewed: () =>
    event('collection_viewed', {collection: {id: '412345678', title: 'Masks', productVariants: [variant, variant]}}),
  productAddedToCart: () =>
    event('product_added_to_cart', {cartLine: {cost: {totalAmount: {amount: 24, currencyCode: 'EUR'}}, merchandise: variant, quantity: 1}}),
  checkoutStarted: () => event('checkout_started', {checkout}),
  checkoutContactInfoSubmitted: () => event('checkout_contact_info_submitted', {checkout}),
  checkoutCompleted: () =>
    event('checkout_completed', {checkout: {...checkout, order: {id: 'gid://shopify/Order/5550001', customer: {id: '77', isFirstOrder: true}}}}),
};

export const init = (privacy: {analyticsProcessingAllowed: boolean; marketingAllowed: boolean}, href?: string) => ({
  context: href ? {document: {location: {href}, title: 'Landing'}} : context,
  data: {
    customer: {id: '7001', email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee', ordersCount: 1, phone: null},
    cart: {id: 'gid://shopify/Cart/Z2NwLWV1cm9wZS13ZXN0?key=secretkey', attributes: [], cost: {totalAmount: {amount: 24, currencyCode: 'EUR'}}, lines: [], totalQuantity: 1},
    shop: {countryCode: 'FR', myshopifyDomain: 'acme.myshopify.com', name: 'Acme', paymentSettings: {currencyCode: 'EUR'}, storefrontUrl: 'https://shop.example'},
    purchasingCompany: null,
  },
  customerPrivacy: {...privacy, preferencesProcessingAllowed: false, saleOfDataAllowed: false},
});
